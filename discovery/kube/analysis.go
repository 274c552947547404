package kube

import (
	analysis "istio.io/api/analysis/v1alpha1"

	"github.com/pilotlight/pilotlight/discovery"
)

// AnalysisMessage is the Istio analyzer message of a problem (code, name
// and level), the same one the status writer puts on the object:
// `pilotlight analyze` prints it offline.
func AnalysisMessage(p discovery.Problem) *analysis.AnalysisMessageBase { return validationMessage(p) }
