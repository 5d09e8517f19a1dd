//! An emulator of StackOne's side of the partner integration.
//!
//! StackOne cannot be reached from a developer's machine, so Assay ships this stand-in. It
//! follows `PROTOCOL.md` and StackOne's OpenAPI description (embedded in [`schema`]):
//!
//! - [`schema`]: validation of JSON against the OpenAPI component schemas.
pub mod schema;
pub mod client;
pub mod order;
pub mod package;
pub mod timestamp;
