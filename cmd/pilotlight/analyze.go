package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/klog/v2"

	"github.com/pilotlight/pilotlight/discovery"
	"github.com/pilotlight/pilotlight/discovery/folder"
	"github.com/pilotlight/pilotlight/discovery/kube"
)

// analysisMessage is one finding, in istioctl analyze's JSON shape.
type analysisMessage struct {
	Code    string `json:"code"`
	Name    string `json:"name"`
	Level   string `json:"level"`
	Origin  string `json:"origin"`              // "VirtualService sock-shop/catalogue"
	Ref     string `json:"reference,omitempty"` // "rules.yaml:14" in folder mode
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

func analyzeCommand() *cobra.Command {
	var (
		configDir  string
		kubeconfig string
		output     string
		timeout    time.Duration
	)
	cmd := &cobra.Command{
		Use:   "analyze",
		Short: "Validate mesh config offline, as serve would, and report what it would skip",
		Long: `Analyze reads the same config serve reads (a folder of YAML, or a cluster)
and runs the same validation, without serving anything. Each finding is
printed as istioctl analyze does, with Istio's codes (IST0101 a reference
to a host or subset that does not exist, IST0106 any other invalid field),
the object, the file and line in folder mode, the field and the reason.

It exits with status 1 when it found an error: use it in CI before applying.`,
		Example: "  pilotlight analyze --config-dir examples/sockshop\n  pilotlight analyze --kubeconfig ~/.kube/config -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if configDir != "" && kubeconfig != "" {
				return fmt.Errorf("--config-dir and --kubeconfig: give one")
			}
			if output != "" && output != "json" && output != "yaml" {
				return fmt.Errorf("--output %q: want json or yaml", output)
			}
			var snap *discovery.Snapshot
			var err error
			where := configDir
			if configDir != "" {
				snap, err = folder.Load(configDir)
			} else {
				where = "the cluster"
				snap, err = clusterSnapshot(cmd.Context(), kubeconfig, timeout)
			}
			if err != nil {
				return err
			}
			messages := analysisMessages(snap.Problems, configDir)
			if err := printAs(cmd.OutOrStdout(), output, messages, func(w *tabwriter.Writer) { analysisText(w, messages, where) }); err != nil {
				return err
			}
			if len(messages) > 0 {
				return fmt.Errorf("analysis found %d error(s)", len(messages))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&configDir, "config-dir", "", "folder of Kubernetes-style YAML to analyze")
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of a cluster to analyze (default: in-cluster config)")
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json or yaml (default: istioctl analyze's text)")
	cmd.Flags().DurationVar(&timeout, "timeout", 60*time.Second, "how long to wait for the cluster's objects")
	return cmd
}

func analysisMessages(problems []discovery.Problem, configDir string) []analysisMessage {
	out := make([]analysisMessage, 0, len(problems))
	for _, p := range problems {
		base := kube.AnalysisMessage(p)
		m := analysisMessage{
			Code: base.GetType().GetCode(), Name: base.GetType().GetName(), Level: base.GetLevel().String(),
			Origin: strings.TrimSpace(p.Kind + " " + p.Name), Field: p.Field, Message: p.Reason,
		}
		if m.Origin == "" {
			m.Origin = p.Source
		}
		if configDir != "" && p.Source != "" {
			pos, err := folder.FieldPosition(configDir, p.Source, p.Field)
			if err != nil {
				pos = folder.Position{File: p.Source}
			}
			m.Ref = pos.String()
		}
		out = append(out, m)
	}
	return out
}

// analysisText is istioctl analyze's line format:
// Error [IST0101] (VirtualService ns/name file.yaml:14) field: message
func analysisText(w io.Writer, messages []analysisMessage, where string) {
	if len(messages) == 0 {
		fmt.Fprintf(w, "✔ No validation issues found when analyzing %s.\n", where)
		return
	}
	for _, m := range messages {
		origin := m.Origin
		if m.Ref != "" && m.Ref != m.Origin {
			origin += " " + m.Ref
		}
		text := m.Message
		if m.Field != "" {
			text = m.Field + ": " + text
		}
		fmt.Fprintf(w, "%s [%s] (%s) %s\n", levelWord(m.Level), m.Code, origin, text)
	}
}

func levelWord(level string) string {
	if level == "" {
		return "Error"
	}
	return strings.ToUpper(level[:1]) + strings.ToLower(level[1:])
}

// clusterSnapshot lists the cluster's objects once, through the same
// informers and validation as serve, and returns the first snapshot.
func clusterSnapshot(ctx context.Context, kubeconfig string, timeout time.Duration) (*discovery.Snapshot, error) {
	log := slog.New(slog.DiscardHandler)
	klog.SetSlogLogger(log)
	_, src, err := kubeSource(kubeconfig, "", log) // Istio's default root namespace
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	got := make(chan *discovery.Snapshot, 1)
	go func() {
		_ = src.Run(ctx, func(s *discovery.Snapshot) {
			select {
			case got <- s:
			default:
			}
			cancel()
		})
	}()
	select {
	case s := <-got:
		return s, nil
	case <-ctx.Done():
		select {
		case s := <-got:
			return s, nil
		default:
		}
		return nil, fmt.Errorf("the cluster's objects were not all listed within %s", timeout)
	}
}
