// Package authn is the mesh's identity: a certificate authority that signs
// workload certificates with SPIFFE identities, the proof a proxy gives of
// who it is before it gets any config or key, and the mutual TLS mode that
// PeerAuthentication asks of a workload's ports.
//
//	ca.go, castore.go        the CA: an ECDSA P-256 root (or a user's cacerts), kept in a state folder
//	certificate.go           workload and server certificates, and when to renew them
//	spiffe.go                spiffe://<trust domain>/ns/<namespace>/sa/<service account>
//	token.go                 folder mode's proof: a short-lived Ed25519 token `pilotlight bootstrap` mints
//	tokenreview.go           Kubernetes' proof: a projected ServiceAccount token, checked by TokenReview
//	peerauthentication.go    STRICT, PERMISSIVE or DISABLE for one workload port (pure)
//
// authn never imports xds: the xds layer asks it to authenticate a stream and
// to issue a certificate through small interfaces, and cmd wires them up.
package authn
