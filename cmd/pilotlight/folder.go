package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/pilotlight/pilotlight/discovery"
	"github.com/pilotlight/pilotlight/discovery/folder"
	"github.com/pilotlight/pilotlight/xds"
)

// folderMode serves the mesh from a folder of YAML.
type folderMode struct {
	watcher *folder.Watcher
}

// newFolderMode checks the folder before anything is served: a folder that
// is missing or not a folder is an error naming it.
func newFolderMode(f serveFlags, log *slog.Logger, reg prometheus.Registerer) (*folderMode, error) {
	if err := folder.CheckDir(f.configDir); err != nil {
		return nil, fmt.Errorf("--config-dir: %w", err)
	}
	m := &folderMode{watcher: &folder.Watcher{
		Dir:         f.configDir,
		Log:         log,
		WriteSettle: f.writeSettle,
		Options:     folder.Options{MaxFileSize: f.maxFileSize.Value(), RootNamespace: f.rootNamespace},
	}}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "pilotlight_config_folder_watched",
		Help: "1 while the config folder is watched for changes; 0 while it cannot be (gone, moved away, or out of inotify watches), when the last snapshot is served and the folder is polled.",
	}, func() float64 {
		if m.watcher.Health() != nil {
			return 0
		}
		return 1
	}))
	return m, nil
}

func (m *folderMode) run(ctx context.Context, publish func(*discovery.Snapshot)) error {
	m.watcher.Publish = publish
	return m.watcher.Run(ctx)
}

// handler adds the folder's health to /readyz: a control plane that can no
// longer see edits is not ready, even though it serves.
func (m *folderMode) handler(debug http.Handler, server *xds.Server) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", debug)
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		switch err := m.watcher.Health(); {
		case err != nil:
			http.Error(w, "config folder not watched: "+err.Error()+"; serving the last snapshot", http.StatusServiceUnavailable)
		case !server.Ready():
			http.Error(w, "no mesh snapshot yet", http.StatusServiceUnavailable)
		default:
			_, _ = w.Write([]byte("ok\n"))
		}
	})
	return mux
}

// quantityFlag is a size flag written as Kubernetes writes quantities
// ("10Mi", "512Ki", "1000000").
type quantityFlag struct{ q resource.Quantity }

func (f *quantityFlag) String() string { return f.q.String() }
func (f *quantityFlag) Type() string   { return "quantity" }
func (f *quantityFlag) Value() int64   { return f.q.Value() }

func (f *quantityFlag) Set(s string) error {
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return err
	}
	if q.Sign() <= 0 {
		return fmt.Errorf("%s: want a size above 0", s)
	}
	f.q = q
	return nil
}
