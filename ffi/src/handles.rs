//! A generation-checked handle registry for objects handed to C as opaque pointers.
//!
//! C sees a `MoshkitSession *` (or similar) that is not an address at all but an encoded
//! [`Handle`]: a slot index plus the slot's generation. Freeing a handle bumps the slot's
//! generation, so a later use of the same pointer (use-after-free) or a second free
//! (double-free) is detected and answered with an error instead of touching freed memory.
//! Garbage pointers are rejected unless they happen to decode to a live handle.
//!
//! Objects are stored as `Arc<T>`: a call in progress keeps its object alive even if another
//! thread frees the handle meanwhile. Cost: one mutex lock per lookup.
//!
//! A handle can alias only after its slot was reused `2^(usize::BITS / 2) - 1` times (4 billion
//! on 64-bit targets, 65535 on 32-bit ones).

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};

const INDEX_BITS: u32 = usize::BITS / 2;
const INDEX_MASK: usize = (1 << INDEX_BITS) - 1;
const MAX_GENERATION: usize = usize::MAX >> INDEX_BITS;

/// An opaque, never-null handle to an object in a [`HandleRegistry`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Handle(NonZeroUsize);

impl Handle {
    fn new(index: usize, generation: usize) -> Handle {
        debug_assert!(index <= INDEX_MASK && (1..=MAX_GENERATION).contains(&generation));
        match NonZeroUsize::new((generation << INDEX_BITS) | index) {
            Some(raw) => Handle(raw),
            None => unreachable!("generation is never 0"),
        }
    }

    fn index(self) -> usize {
        self.0.get() & INDEX_MASK
    }

    fn generation(self) -> usize {
        self.0.get() >> INDEX_BITS
    }

    /// The handle as an opaque pointer for C. It must never be dereferenced.
    pub fn into_ptr<P>(self) -> *mut P {
        std::ptr::without_provenance_mut(self.0.get())
    }

    /// The handle encoded in a pointer from C, or `None` for a null pointer.
    pub fn from_ptr<P>(ptr: *const P) -> Option<Handle> {
        NonZeroUsize::new(ptr.addr()).map(Handle)
    }
}

/// Why a pointer from C does not name a live object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HandleError {
    /// The pointer is NULL.
    #[error("handle is NULL")]
    Null,
    /// The pointer was freed already, or was never issued by this registry.
    #[error("handle is unknown or already freed")]
    Invalid,
}

struct Slot<T> {
    generation: usize,
    value: Option<Arc<T>>,
}

struct Slots<T> {
    slots: Vec<Slot<T>>,
    free: Vec<usize>,
}

/// Objects addressed by [`Handle`]s; thread-safe.
pub struct HandleRegistry<T> {
    inner: Mutex<Slots<T>>,
}

impl<T> std::fmt::Debug for HandleRegistry<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandleRegistry")
            .field("live", &self.len())
            .finish()
    }
}

impl<T> Default for HandleRegistry<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> HandleRegistry<T> {
    /// An empty registry (usable in a `static`).
    pub const fn new() -> Self {
        HandleRegistry {
            inner: Mutex::new(Slots {
                slots: Vec::new(),
                free: Vec::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slots<T>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores `value` and returns its handle, or `None` when every index is in use.
    pub fn insert(&self, value: T) -> Option<Handle> {
        let mut inner = self.lock();
        let index = match inner.free.pop() {
            Some(index) => index,
            None if inner.slots.len() <= INDEX_MASK => {
                inner.slots.push(Slot {
                    generation: 1,
                    value: None,
                });
                inner.slots.len() - 1
            }
            None => return None,
        };
        let slot = &mut inner.slots[index];
        slot.value = Some(Arc::new(value));
        Some(Handle::new(index, slot.generation))
    }

    /// The object behind `handle`, or `None` if the handle was freed or never issued.
    pub fn get(&self, handle: Handle) -> Option<Arc<T>> {
        let inner = self.lock();
        let slot = inner.slots.get(handle.index())?;
        if slot.generation != handle.generation() {
            return None;
        }
        slot.value.clone()
    }

    /// Frees `handle`, returning its object; `None` if it was already freed or never issued.
    pub fn remove(&self, handle: Handle) -> Option<Arc<T>> {
        let mut inner = self.lock();
        let slot = inner.slots.get_mut(handle.index())?;
        if slot.generation != handle.generation() {
            return None;
        }
        let value = slot.value.take()?;
        slot.generation = if slot.generation == MAX_GENERATION {
            1
        } else {
            slot.generation + 1
        };
        inner.free.push(handle.index());
        Some(value)
    }

    /// The object behind a pointer from C (see [`Handle::into_ptr`]).
    pub fn get_ptr<P>(&self, ptr: *const P) -> Result<Arc<T>, HandleError> {
        let handle = Handle::from_ptr(ptr).ok_or(HandleError::Null)?;
        self.get(handle).ok_or(HandleError::Invalid)
    }

    /// Frees the handle behind a pointer from C, returning its object; a second free of the
    /// same pointer is [`HandleError::Invalid`].
    pub fn remove_ptr<P>(&self, ptr: *const P) -> Result<Arc<T>, HandleError> {
        let handle = Handle::from_ptr(ptr).ok_or(HandleError::Null)?;
        self.remove(handle).ok_or(HandleError::Invalid)
    }

    /// Number of live handles.
    pub fn len(&self) -> usize {
        let inner = self.lock();
        inner.slots.len() - inner.free.len()
    }

    /// Whether no handle is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_get_remove() {
        let reg = HandleRegistry::new();
        let a = reg.insert("a").expect("room");
        let b = reg.insert("b").expect("room");
        assert_ne!(a, b);
        assert_eq!(reg.get(a).as_deref(), Some(&"a"));
        assert_eq!(reg.get(b).as_deref(), Some(&"b"));
        assert_eq!(reg.len(), 2);
        assert_eq!(reg.remove(a).as_deref(), Some(&"a"));
        assert_eq!(reg.len(), 1);
        assert!(!reg.is_empty());
    }

    #[test]
    fn use_after_free_and_double_free_are_detected() {
        let reg = HandleRegistry::new();
        let a = reg.insert(1).expect("room");
        assert!(reg.remove(a).is_some());
        assert!(reg.get(a).is_none(), "use after free");
        assert!(reg.remove(a).is_none(), "double free");
        // The slot is reused with a new generation: the stale handle still misses.
        let b = reg.insert(2).expect("room");
        assert_eq!(a.index(), b.index());
        assert_ne!(a, b);
        assert!(reg.get(a).is_none());
        assert_eq!(reg.get(b).as_deref(), Some(&2));
        assert!(!reg.is_empty());
    }

    #[test]
    fn unknown_and_null_pointers() {
        let reg: HandleRegistry<u8> = HandleRegistry::new();
        assert!(Handle::from_ptr(std::ptr::null::<u8>()).is_none());
        let bogus =
            Handle::from_ptr(std::ptr::without_provenance::<u8>(0xdead_beef)).expect("non-null");
        assert!(reg.get(bogus).is_none());
        assert!(reg.remove(bogus).is_none());
    }

    #[test]
    fn pointer_round_trip_and_liveness_across_free() {
        let reg = HandleRegistry::new();
        let h = reg.insert(String::from("session")).expect("room");
        let ptr: *mut std::ffi::c_void = h.into_ptr();
        assert!(!ptr.is_null());
        assert_eq!(Handle::from_ptr(ptr), Some(h));
        let in_flight = reg.get(h).expect("live");
        assert!(reg.remove(h).is_some());
        // A call that already looked the object up keeps it alive.
        assert_eq!(in_flight.as_str(), "session");
    }

    #[test]
    fn pointer_api_as_a_c_session_would_use_it() {
        // The shape of moshkit_session_connect / _free: opaque pointers in and out.
        #[derive(Debug)]
        enum MoshkitSession {}
        let reg = HandleRegistry::new();
        let session: *mut MoshkitSession = reg.insert(7u32).expect("room").into_ptr();
        assert_eq!(reg.get_ptr(session).as_deref(), Ok(&7));
        assert_eq!(reg.remove_ptr(session).as_deref(), Ok(&7));
        assert_eq!(
            reg.get_ptr(session),
            Err(HandleError::Invalid),
            "use after free"
        );
        assert_eq!(
            reg.remove_ptr(session),
            Err(HandleError::Invalid),
            "double free"
        );
        assert_eq!(
            reg.get_ptr(std::ptr::null::<MoshkitSession>()),
            Err(HandleError::Null)
        );
    }

    #[test]
    fn concurrent_use() {
        let reg = Arc::new(HandleRegistry::new());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let reg = Arc::clone(&reg);
                std::thread::spawn(move || {
                    for i in 0..500 {
                        let h = reg.insert((t, i)).expect("room");
                        assert_eq!(reg.get(h).as_deref(), Some(&(t, i)));
                        assert_eq!(reg.remove(h).as_deref(), Some(&(t, i)));
                        assert!(reg.get(h).is_none());
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        assert!(reg.is_empty());
    }

    #[test]
    fn generation_wraps_without_reaching_zero() {
        let reg = HandleRegistry::new();
        let h = reg.insert(()).expect("room");
        reg.lock().slots[h.index()].generation = MAX_GENERATION;
        let h = Handle::new(h.index(), MAX_GENERATION);
        assert!(reg.remove(h).is_some());
        let again = reg.insert(()).expect("room");
        assert_eq!(again.generation(), 1);
        assert!(reg.get(h).is_none());
    }
}
