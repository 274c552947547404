package load

import (
	"context"
	"crypto/tls"
	"crypto/x509"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// Credentials are how a simulated sidecar proves who it is, in one place:
// the transport of its connection and what its stream carries. Plaintext
// is Insecure; a server that wants a proof of identity over TLS (issue 8)
// takes TokenTLS, with a token per proxy.
type Credentials interface {
	// DialOptions make one proxy's connection.
	DialOptions(p Proxy) ([]grpc.DialOption, error)
	// StreamContext is the context of the proxy's ADS stream (metadata
	// such as a bearer token).
	StreamContext(ctx context.Context, p Proxy) (context.Context, error)
}

// Proxy is one simulated sidecar's identity.
type Proxy struct {
	NodeID    string
	Namespace string
	Pod       string
}

// Insecure: plaintext, no token.
type Insecure struct{}

func (Insecure) DialOptions(Proxy) ([]grpc.DialOption, error) {
	return []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, nil
}

func (Insecure) StreamContext(ctx context.Context, _ Proxy) (context.Context, error) { return ctx, nil }

// TokenTLS: TLS to a server whose certificate chains to Roots (for
// ServerName), and "authorization: Bearer TOKEN" on the stream, as Envoy
// sends a token file (the token of each proxy from Token).
type TokenTLS struct {
	Roots      *x509.CertPool
	ServerName string
	Token      func(Proxy) (string, error)
}

func (c TokenTLS) DialOptions(Proxy) ([]grpc.DialOption, error) {
	cfg := &tls.Config{RootCAs: c.Roots, ServerName: c.ServerName, MinVersion: tls.VersionTLS12}
	return []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(cfg))}, nil
}

func (c TokenTLS) StreamContext(ctx context.Context, p Proxy) (context.Context, error) {
	token, err := c.Token(p)
	if err != nil {
		return nil, err
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token), nil
}
