package inject

import (
	"bytes"
	"context"
	"log/slog"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	kubeinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
)

// WebhookConfigName is the MutatingWebhookConfiguration of deploy/.
const WebhookConfigName = "pilotlight"

// caBundleRetry is how long to wait before trying again after a failed write.
const caBundleRetry = 5 * time.Second

// KeepCABundle makes every webhook of the MutatingWebhookConfiguration
// name carry caPEM as its clientConfig.caBundle, now and after any change
// to it (a re-applied manifest, an edit), until ctx ends. The elected
// leader runs it, so that replicas do not fight over the object. It
// watches that one object only (a field selector on its name, which is
// also all that RBAC grants).
func KeepCABundle(ctx context.Context, kc kubernetes.Interface, name string, caPEM []byte, log *slog.Logger) {
	factory := kubeinformers.NewSharedInformerFactoryWithOptions(kc, 0, kubeinformers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("metadata.name", name).String()
	}))
	informer := factory.Admissionregistration().V1().MutatingWebhookConfigurations().Informer()
	dirty := make(chan struct{}, 1)
	mark := func(any) {
		select {
		case dirty <- struct{}{}:
		default:
		}
	}
	_, _ = informer.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: mark, UpdateFunc: func(_, obj any) { mark(obj) }})
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		return
	}
	if len(informer.GetStore().ListKeys()) == 0 {
		log.Warn("no MutatingWebhookConfiguration: pods get no sidecar until it exists (kubectl apply -k deploy/)", "name", name)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-dirty:
		}
		if err := setCABundle(ctx, kc, name, caPEM, log); err != nil && ctx.Err() == nil {
			log.Error("cannot write the webhook's caBundle; retrying", "name", name, "error", err)
			time.AfterFunc(caBundleRetry, func() { mark(nil) })
		}
	}
}

// setCABundle writes caPEM into every webhook that lacks it.
func setCABundle(ctx context.Context, kc kubernetes.Interface, name string, caPEM []byte, log *slog.Logger) error {
	client := kc.AdmissionregistrationV1().MutatingWebhookConfigurations()
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cfg, err := client.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if !needsCABundle(cfg, caPEM) {
			return nil
		}
		for i := range cfg.Webhooks {
			cfg.Webhooks[i].ClientConfig.CABundle = caPEM
		}
		if _, err := client.Update(ctx, cfg, metav1.UpdateOptions{}); err != nil {
			return err
		}
		log.Info("wrote the webhook's caBundle", "name", name, "webhooks", len(cfg.Webhooks))
		return nil
	})
}

func needsCABundle(cfg *admissionregistrationv1.MutatingWebhookConfiguration, caPEM []byte) bool {
	for _, w := range cfg.Webhooks {
		if !bytes.Equal(w.ClientConfig.CABundle, caPEM) {
			return true
		}
	}
	return false
}
