//! Trees and nodes: the directory structure of a snapshot. Serialized as JSON (docs/format.md).

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};
use crate::id::BlobId;

/// Raw bytes of a name, path or link target. Serialized as a string when valid UTF-8 and as
/// `{"hex": ...}` otherwise, so that any Unix name survives.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Bytes(pub Vec<u8>);

impl Bytes {
    pub fn as_os_str(&self) -> &OsStr {
        OsStr::from_bytes(&self.0)
    }
    pub fn from_os(s: &OsStr) -> Self {
        Bytes(s.as_bytes().to_vec())
    }
    pub fn into_os_string(self) -> OsString {
        OsString::from_vec(self.0)
    }
    /// For display only: invalid UTF-8 shown with replacement characters.
    pub fn lossy(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }
}

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.lossy())
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match std::str::from_utf8(&self.0) {
            Ok(t) => s.serialize_str(t),
            Err(_) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("hex", &hex::encode(&self.0))?;
                m.end()
            }
        }
    }
}

/// Reads a string, or `{"hex": "..."}`, straight from the input: a tree holds a name per
/// entry, and serde's untagged enums would buffer each one first (a large directory's parse
/// took twice as long).
struct BytesVisitor;

impl<'de> serde::de::Visitor<'de> for BytesVisitor {
    type Value = Bytes;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a string, or an object {\"hex\": ...}")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<Bytes, E> {
        Ok(Bytes(v.as_bytes().to_vec()))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> std::result::Result<Bytes, E> {
        Ok(Bytes(v.into_bytes()))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Bytes, A::Error> {
        let mut out = None;
        while let Some(k) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if k != "hex" || out.is_some() {
                return Err(serde::de::Error::custom(format!("unexpected key {k:?}")));
            }
            let h: std::borrow::Cow<'de, str> = map.next_value()?;
            out = Some(hex::decode(h.as_bytes()).map_err(serde::de::Error::custom)?);
        }
        out.map(Bytes)
            .ok_or_else(|| serde::de::Error::custom("missing key \"hex\""))
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(BytesVisitor)
    }
}

/// What a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeType {
    File,
    Dir,
    Symlink,
    Fifo,
    Chardev,
    Blockdev,
    Socket,
}

/// One piece of a file's content: a stored blob or a hole of zeros.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ContentPart {
    Blob(BlobId),
    Hole(u64),
}

/// An extended attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Xattr {
    pub name: Bytes,
    #[serde(with = "hex_bytes")]
    pub value: Vec<u8>,
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(s).map_err(serde::de::Error::custom)
    }
}

/// A directory entry with its metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub name: Bytes,
    #[serde(rename = "type")]
    pub kind: NodeType,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    pub mtime: i64,
    /// Access time; not recorded by default, since reading a file changes it and every
    /// backup would then store new trees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub atime: Option<i64>,
    pub ctime: i64,
    pub inode: u64,
    pub dev: u64,
    pub links: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub size: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub content: Vec<ContentPart>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtree: Option<BlobId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Bytes>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rdev: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub xattrs: Vec<Xattr>,
    /// For files read with features on: the class of the content's head (a format such as
    /// `pdf`, or `text`, `random`, `binary`, `empty`), which the next backup compares with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// For files read with features on: the kinds of secret found in their first MiB
    /// (`private_key`, `aws_key_id`, `card_number`, ...; `ibars_insight::classify::secrets`),
    /// sorted. Kept from the previous node when the file was not read again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

impl Node {
    /// A directory node with no metadata, for synthetic parents of backed-up paths.
    pub fn synthetic_dir(name: Bytes, subtree: BlobId) -> Self {
        Node {
            name,
            kind: NodeType::Dir,
            mode: 0o755,
            uid: 0,
            gid: 0,
            user: None,
            group: None,
            mtime: 0,
            atime: None,
            ctime: 0,
            inode: 0,
            dev: 0,
            links: 1,
            size: 0,
            content: vec![],
            subtree: Some(subtree),
            target: None,
            rdev: 0,
            xattrs: vec![],
            class: None,
            secrets: vec![],
        }
    }

    /// Blob ids of the content, holes skipped.
    pub fn blobs(&self) -> impl Iterator<Item = &BlobId> {
        self.content.iter().filter_map(|p| match p {
            ContentPart::Blob(b) => Some(b),
            ContentPart::Hole(_) => None,
        })
    }
}

/// A directory's entries, sorted by name.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Tree {
    pub version: u32,
    pub nodes: Vec<Node>,
}

impl Tree {
    pub fn new(mut nodes: Vec<Node>) -> Self {
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        Tree { version: 1, nodes }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("trees serialize")
    }

    /// Parse and check a tree blob.
    pub fn parse(bytes: &[u8], id: &BlobId) -> Result<Self> {
        let what = || format!("tree {id}");
        let t: Tree =
            serde_json::from_slice(bytes).map_err(|e| Error::corrupt(what(), e.to_string()))?;
        if t.version != 1 {
            return Err(Error::corrupt(
                what(),
                format!("unsupported version {}", t.version),
            ));
        }
        for w in t.nodes.windows(2) {
            if w[0].name >= w[1].name {
                return Err(Error::corrupt(what(), "names not sorted or not unique"));
            }
        }
        for n in &t.nodes {
            if n.name.0.is_empty()
                || n.name.0.contains(&b'/')
                || n.name.0 == b"."
                || n.name.0 == b".."
            {
                return Err(Error::corrupt(what(), format!("invalid name {:?}", n.name)));
            }
            if n.kind == NodeType::Dir && n.subtree.is_none() {
                return Err(Error::corrupt(
                    what(),
                    format!("directory {:?} has no subtree", n.name),
                ));
            }
        }
        Ok(t)
    }

    pub fn find(&self, name: &[u8]) -> Option<&Node> {
        self.nodes
            .binary_search_by(|n| n.name.0.as_slice().cmp(name))
            .ok()
            .map(|i| &self.nodes[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_names_round_trip() {
        let mut n = Node::synthetic_dir(Bytes(vec![0xff, b'a', 0xfe]), BlobId([1; 32]));
        n.xattrs.push(Xattr {
            name: Bytes(b"user.x".to_vec()),
            value: vec![0, 1, 2],
        });
        let mut f = n.clone();
        f.name = Bytes("ünïcødé".into());
        f.kind = NodeType::File;
        f.subtree = None;
        f.content = vec![ContentPart::Blob(BlobId([2; 32])), ContentPart::Hole(4096)];
        let t = Tree::new(vec![n, f]);
        let id = BlobId([0; 32]);
        assert_eq!(Tree::parse(&t.to_bytes(), &id).unwrap(), t);
        assert!(Tree::parse(b"{\"version\":1,\"nodes\":[{}]}", &id).is_err());
    }
}
