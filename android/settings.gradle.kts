// MoshKit Android library (AAR). Build the native libraries first: ./build-jnilibs.sh
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}
dependencyResolutionManagement {
    repositories {
        google()
        mavenCentral()
    }
}
rootProject.name = "moshkit-android"
