//! What touches the host beyond spawning engines: [`pagecache`] (how much of a file the
//! page cache holds, and dropping it).

pub mod pagecache;
