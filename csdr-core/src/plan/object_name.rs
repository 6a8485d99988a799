//! An object's name as a restore's index and plan hold it (R13): names of up to 22 bytes,
//! most names, are held in place, so a million objects take no allocation for their names;
//! longer ones take one.
//!
//! ```
//! use csdr_core::plan::ObjectName;
//!
//! let short = ObjectName::from("web-config");
//! let long = ObjectName::from("web-config-with-a-name-longer-than-the-inline-room");
//! assert_eq!(short.as_str(), "web-config");
//! assert_eq!(&*long, "web-config-with-a-name-longer-than-the-inline-room");
//! assert!(short < long);
//! assert_eq!(std::mem::size_of::<ObjectName>(), 24);
//! ```

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

/// How many bytes a name may have to be held in place.
const INLINE: usize = 22;

/// An object's name, held in place when it has at most 22 bytes (R13).
#[derive(Clone)]
pub struct ObjectName(Repr);

#[derive(Clone)]
enum Repr {
    /// The name's bytes (valid UTF-8: they come from a `&str`) and how many there are.
    Inline {
        len: u8,
        bytes: [u8; INLINE],
    },
    Heap(Box<str>),
}

impl ObjectName {
    /// The name.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // The bytes were copied from a `&str` whole, so they are UTF-8.
            Repr::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            Repr::Heap(name) => name,
        }
    }
}

impl Default for ObjectName {
    fn default() -> Self {
        ObjectName(Repr::Inline {
            len: 0,
            bytes: [0; INLINE],
        })
    }
}

impl From<&str> for ObjectName {
    fn from(name: &str) -> Self {
        match u8::try_from(name.len()) {
            Ok(len) if name.len() <= INLINE => {
                let mut bytes = [0; INLINE];
                bytes[..name.len()].copy_from_slice(name.as_bytes());
                ObjectName(Repr::Inline { len, bytes })
            }
            _ => ObjectName(Repr::Heap(name.into())),
        }
    }
}

impl Deref for ObjectName {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for ObjectName {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for ObjectName {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for ObjectName {}

impl PartialOrd for ObjectName {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ObjectName {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for ObjectName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Debug for ObjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for ObjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any name reads back as it was given, and names order as their text does.
        #[test]
        fn names_read_back_and_order_as_text(a in "\\PC{0,40}", b in "\\PC{0,40}") {
            let (na, nb) = (ObjectName::from(a.as_str()), ObjectName::from(b.as_str()));
            prop_assert_eq!(na.as_str(), a.as_str());
            prop_assert_eq!(na.cmp(&nb), a.cmp(&b));
            prop_assert_eq!(na == nb, a == b);
        }
    }

    #[test]
    fn the_longest_inline_name_and_the_shortest_boxed_one() {
        let inline = "a".repeat(INLINE);
        let boxed = "a".repeat(INLINE + 1);
        assert!(matches!(
            ObjectName::from(inline.as_str()).0,
            Repr::Inline { .. }
        ));
        assert!(matches!(ObjectName::from(boxed.as_str()).0, Repr::Heap(_)));
        assert_eq!(ObjectName::from(boxed.as_str()).as_str(), boxed);
        assert_eq!(ObjectName::from("").as_str(), "");
    }
}
