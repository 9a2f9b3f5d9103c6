//! The gRPC methods the server serves, by path (`/package.Service/Method`): what
//! bounds the labels of the metrics and the names of the trace spans, so a client
//! sending made-up paths cannot grow either.

use std::collections::HashSet;

use prost::Message;

/// The paths served.
#[derive(Debug, Clone, Default)]
pub struct Methods(HashSet<String>);

impl Methods {
    /// Every method of every service in `descriptor_sets` (encoded
    /// `FileDescriptorSet`s), and `paths`.
    pub fn new(descriptor_sets: &[&[u8]], paths: &[&str]) -> Self {
        let mut known: HashSet<String> = paths.iter().map(|p| (*p).to_owned()).collect();
        for set in descriptor_sets {
            let Ok(set) = prost_types::FileDescriptorSet::decode(*set) else {
                continue;
            };
            for file in set.file {
                let package = file.package();
                for service in &file.service {
                    for method in &service.method {
                        known.insert(format!("/{package}.{}/{}", service.name(), method.name()));
                    }
                }
            }
        }
        Self(known)
    }

    /// The service and method of `path`, or `("unknown", "unknown")` when the
    /// server does not serve it.
    pub fn split<'a>(&self, path: &'a str) -> (&'a str, &'a str) {
        match path.strip_prefix('/').and_then(|p| p.split_once('/')) {
            Some((service, method)) if self.0.contains(path) => (service, method),
            _ => ("unknown", "unknown"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_paths_split_and_others_are_unknown() {
        let methods = Methods::new(&[crate::proto::FILE_DESCRIPTOR_SET], &["/a.B/C"]);
        assert_eq!(
            methods.split("/tessera.auth.v1.AuthService/Login"),
            ("tessera.auth.v1.AuthService", "Login")
        );
        assert_eq!(methods.split("/a.B/C"), ("a.B", "C"));
        assert_eq!(methods.split("/a.B/D"), ("unknown", "unknown"));
        assert_eq!(methods.split("garbage"), ("unknown", "unknown"));
    }
}
