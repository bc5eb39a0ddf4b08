//! Load generation (to be written)
