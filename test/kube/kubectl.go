package kube

import (
	"bytes"
	"context"
	"os/exec"
	"regexp"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Kubectl runs the kubectl built beside the API server (Bins.Kubectl) as
// the cluster's admin, and returns its stdout and stderr apart (kubectl
// prints warnings on stderr).
func (c *Cluster) Kubectl(args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Bins.Kubectl, append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

var downwardRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// ExpandArgs does what the kubelet does to a container's command and args:
// $(VAR) becomes the value of the container's env VAR (values gives those
// that come from the downward API), $$ is a literal $, and a reference to
// an unknown variable stays as written.
func ExpandArgs(c corev1.Container, values map[string]string) []string {
	env := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env[e.Name] = e.Value
		} else if v, ok := values[e.Name]; ok {
			env[e.Name] = v
		}
	}
	var out []string
	for _, a := range append(append([]string(nil), c.Command...), c.Args...) {
		parts := strings.Split(a, "$$")
		for i, p := range parts {
			parts[i] = downwardRef.ReplaceAllStringFunc(p, func(ref string) string {
				if v, ok := env[ref[2:len(ref)-1]]; ok {
					return v
				}
				return ref
			})
		}
		out = append(out, strings.Join(parts, "$"))
	}
	return out
}
