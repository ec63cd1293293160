// MoshKit as an Android library (AAR): the uniffi-generated Kotlin (package org.moshkit, checked
// in at ../bindings/kotlin), the Android helpers in src/main/kotlin, and libmoshkit.so per ABI in
// src/main/jniLibs/<abi>/ (built by ./build-jnilibs.sh with the NDK).
//
//   ./build-jnilibs.sh && gradle assembleRelease   ->  build/outputs/aar/moshkit-android-release.aar
plugins {
    id("com.android.library") version "8.5.2"
    id("org.jetbrains.kotlin.android") version "2.0.21"
}

android {
    namespace = "org.moshkit"
    compileSdk = 34

    defaultConfig {
        minSdk = 24
        consumerProguardFiles("consumer-rules.pro")
        ndk {
            abiFilters += listOf("arm64-v8a", "armeabi-v7a", "x86_64", "x86")
        }
    }

    sourceSets {
        getByName("main") {
            // The generated bindings are used in place, so they cannot drift from the library.
            kotlin.srcDirs("src/main/kotlin", "../bindings/kotlin")
            jniLibs.srcDirs("src/main/jniLibs")
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    buildTypes {
        getByName("release") {
            isMinifyEnabled = false
        }
    }
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    // uniffi's Kotlin calls into libmoshkit.so through JNA (the @aar variant ships its .so files).
    implementation("net.java.dev.jna:jna:5.14.0@aar")
    // SessionEvents (android/src/main/kotlin): the session's callbacks as a Flow.
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-core:1.8.1")
}
