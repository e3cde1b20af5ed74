//! Istio-style authorization for the mesh.
