package main

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/pilotlight/pilotlight/authn"
)

// jwksFlags configure the fetching of RequestAuthentication key sets.
type jwksFlags struct {
	redirects []string
	refresh   time.Duration
	retry     time.Duration
}

func (j *jwksFlags) addTo(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringArrayVar(&j.redirects, "jwks-redirect", nil,
		"PREFIX=TARGET: fetch jwksUri (and OpenID discovery) URLs starting with PREFIX from TARGET instead, "+
			"a folder (file:///DIR/ or /DIR/) or a base URL, the rest of the URL appended; repeatable")
	f.DurationVar(&j.refresh, "jwks-refresh-interval", authn.DefaultJWKSRefresh, "how often fetched JWKS are fetched again")
	f.DurationVar(&j.retry, "jwks-retry-interval", authn.DefaultJWKSRetry, "how soon a failed JWKS fetch is tried again (tokens of its rules are rejected meanwhile)")
}

func (j *jwksFlags) resolver(log *slog.Logger) (*authn.JWKSResolver, error) {
	opts := authn.JWKSOptions{Log: log, Refresh: j.refresh, Retry: j.retry}
	for _, r := range j.redirects {
		rd, err := authn.ParseRedirect(r)
		if err != nil {
			return nil, fmt.Errorf("--jwks-redirect %v", err)
		}
		opts.Redirects = append(opts.Redirects, rd)
	}
	return authn.NewJWKSResolver(opts), nil
}
