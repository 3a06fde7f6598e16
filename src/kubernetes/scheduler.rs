//! The scheduler's steps through kubectl (#24 point 4).
