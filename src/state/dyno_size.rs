//! Dyno sizes, as Heroku names them. Stored per process type in
//! `app.toml`, so they belong to the store; the runtime turns one into
//! podman's limits.

/// A dyno size, as Heroku names them: memory, CPU share and process limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DynoSize {
    pub name: &'static str,
    pub memory_mb: u64,
    /// Relative CPU weight (`--cpu-shares`), 1024 for one share.
    pub cpu_shares: u64,
    pub pids: u64,
}

pub const SIZES: &[DynoSize] = &[
    DynoSize {
        name: "eco",
        memory_mb: 512,
        cpu_shares: 512,
        pids: 256,
    },
    DynoSize {
        name: "basic",
        memory_mb: 512,
        cpu_shares: 512,
        pids: 256,
    },
    DynoSize {
        name: "standard-1x",
        memory_mb: 512,
        cpu_shares: 1024,
        pids: 256,
    },
    DynoSize {
        name: "standard-2x",
        memory_mb: 1024,
        cpu_shares: 2048,
        pids: 512,
    },
    DynoSize {
        name: "performance-m",
        memory_mb: 2560,
        cpu_shares: 4096,
        pids: 16384,
    },
    DynoSize {
        name: "performance-l",
        memory_mb: 14336,
        cpu_shares: 8192,
        pids: 32768,
    },
];

pub const DEFAULT_SIZE: DynoSize = SIZES[2];

impl DynoSize {
    /// `standard-2x`, `Standard-2X` or `2x`.
    pub fn parse(name: &str) -> Option<DynoSize> {
        let name = name.to_ascii_lowercase();
        SIZES
            .iter()
            .find(|s| s.name == name || s.name.strip_prefix("standard-") == Some(name.as_str()))
            .copied()
    }

    pub fn names() -> String {
        SIZES.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_as_heroku_names_them() {
        assert_eq!(DynoSize::parse("standard-2x").unwrap().memory_mb, 1024);
        assert_eq!(DynoSize::parse("Standard-2X").unwrap().name, "standard-2x");
        assert_eq!(DynoSize::parse("2x").unwrap().name, "standard-2x");
        assert_eq!(DynoSize::parse("performance-l").unwrap().memory_mb, 14336);
        assert!(DynoSize::parse("huge").is_none());
        assert_eq!(DEFAULT_SIZE.name, "standard-1x");
    }
}
