//! Reading untrusted text into the model: settings (read, then validated into [`crate::Settings`] with every
//! problem named by its field), admission requests and Kubewarden payloads as borrowed views, PriorityClass
//! objects, and the pod specs of custom kinds.

pub mod custom;
pub mod priority_class;
pub mod request;
pub mod settings;
mod validate;
