//! KeyDescription
