package translate

import (
	"errors"
	"fmt"
	"strconv"

	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	rbacpb "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	rbachttp "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	rbactcp "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	security "istio.io/api/security/v1beta1"

	"github.com/pilotlight/pilotlight/discovery"
)

// AuthorizationPolicy → Envoy RBAC, as Istio builds it
// (pilot/pkg/security/authz/builder and model):
//   - one RBAC filter per action, in Istio's order: CUSTOM (here: deny, see
//     rbacCustom), AUDIT, DENY, ALLOW. A request must pass each in turn, so
//     DENY is evaluated before ALLOW.
//   - one Envoy policy per rule, named ns[NS]-policy[NAME]-rule[i], so a
//     config dump says which object and rule let a request through or not.
//   - an ALLOW policy with no rules matches nothing (allow-nothing); a rule
//     `{}` matches everything (allow-all); a workload with no ALLOW policy
//     gets no ALLOW filter, so everything is allowed.
//   - policies annotated istio.io/dry-run: "true" go to shadow_rules: they
//     are evaluated and logged, never enforced.
//   - on TCP ports the same rules become a network RBAC filter; HTTP-only
//     fields make an ALLOW rule drop out and a DENY rule match more
//     (discovery reports both).

// rbacAction is one of the RBAC filters: which policies it holds and what
// Envoy does when one matches.
type rbacAction struct {
	policies security.AuthorizationPolicy_Action
	envoy    rbacpb.RBAC_Action
	// nameSuffix marks the policy names of this filter.
	nameSuffix string
}

var (
	// rbacCustom: pilotlight has no ext_authz provider. As Istio does when
	// a CUSTOM provider is not usable, the requests its rules match are
	// denied (discovery reports the policy as unsupported).
	rbacCustom = rbacAction{security.AuthorizationPolicy_CUSTOM, rbacpb.RBAC_DENY, "-deny-due-to-bad-CUSTOM-action"}
	rbacAudit  = rbacAction{security.AuthorizationPolicy_AUDIT, rbacpb.RBAC_LOG, ""}
	rbacDeny   = rbacAction{security.AuthorizationPolicy_DENY, rbacpb.RBAC_DENY, ""}
	rbacAllow  = rbacAction{security.AuthorizationPolicy_ALLOW, rbacpb.RBAC_ALLOW, ""}
	// rbacActions in the order the filters run.
	rbacActions = []rbacAction{rbacCustom, rbacAudit, rbacDeny, rbacAllow}
)

// Shadow rules log their result in stats with these prefixes (Istio's).
const (
	shadowAllowStatsName = "istio_dry_run_allow_"
	shadowDenyStatsName  = "istio_dry_run_deny_"
	rbacTCPStatPrefix    = "tcp."
)

// rbacFilter is envoy.filters.http.rbac for one action.
type rbacFilter struct{ action rbacAction }

func (f rbacFilter) build(c filterContext) *hcm.HttpFilter {
	if !enforcesPolicies(c) {
		return nil
	}
	rules, shadow := rbacRules(c.policies.authorization(), f.action, false)
	if rules == nil && shadow == nil {
		return nil
	}
	config := &rbachttp.RBAC{Rules: rules, ShadowRules: shadow, ShadowRulesStatPrefix: shadowStatPrefix(shadow)}
	return &hcm.HttpFilter{
		Name:       wellknown.HTTPRoleBasedAccessControl,
		ConfigType: &hcm.HttpFilter_TypedConfig{TypedConfig: mustAny(config)},
	}
}

// enforcesPolicies: authorization and request authentication apply where
// a workload receives traffic: a sidecar's inbound side and a gateway.
func enforcesPolicies(c filterContext) bool {
	return c.pod != nil && (c.dir == inbound || c.gateway)
}

// tcpRBACFilters are the envoy.filters.network.rbac filters of an inbound
// TCP chain, in action order, before its tcp_proxy: a denied connection
// is closed.
func tcpRBACFilters(policies []*discovery.AuthorizationPolicy) []*listener.Filter {
	var out []*listener.Filter
	for _, action := range rbacActions {
		rules, shadow := rbacRules(policies, action, true)
		if rules == nil && shadow == nil {
			continue
		}
		config := &rbactcp.RBAC{Rules: rules, ShadowRules: shadow, ShadowRulesStatPrefix: shadowStatPrefix(shadow), StatPrefix: rbacTCPStatPrefix}
		out = append(out, &listener.Filter{
			Name:       wellknown.RoleBasedAccessControl,
			ConfigType: &listener.Filter_TypedConfig{TypedConfig: mustAny(config)},
		})
	}
	return out
}

// rbacRules are the enforced and the dry-run (shadow) rules of one action,
// each nil when no policy of that action (and kind) applies.
func rbacRules(policies []*discovery.AuthorizationPolicy, action rbacAction, forTCP bool) (rules, shadow *rbacpb.RBAC) {
	for _, ap := range policies {
		if ap.Spec.GetAction() != action.policies {
			continue
		}
		set := &rules
		if dryRun, _ := strconv.ParseBool(ap.Annotations[discovery.DryRunAnnotation]); dryRun {
			set = &shadow
		}
		if *set == nil {
			*set = &rbacpb.RBAC{Action: action.envoy, Policies: map[string]*rbacpb.Policy{}}
		}
		if len(ap.Spec.GetRules()) == 0 {
			(*set).Policies[policyName(ap, 0)+action.nameSuffix] = matchNever()
			continue
		}
		for i, r := range ap.Spec.GetRules() {
			if p, err := rulePolicy(ap, r, forTCP, action.envoy); err == nil {
				(*set).Policies[policyName(ap, i)+action.nameSuffix] = p
			}
		}
	}
	return rules, shadow
}

func shadowStatPrefix(shadow *rbacpb.RBAC) string {
	if shadow == nil {
		return ""
	}
	switch shadow.Action {
	case rbacpb.RBAC_ALLOW:
		return shadowAllowStatsName
	case rbacpb.RBAC_DENY:
		return shadowDenyStatsName
	}
	return ""
}

// policyName is Istio's name of the Envoy policy of a rule.
func policyName(ap *discovery.AuthorizationPolicy, rule int) string {
	return fmt.Sprintf("ns[%s]-policy[%s]-rule[%d]", ap.Namespace, ap.Name, rule)
}

// matchNever is the policy of an ALLOW policy without rules: no request
// has a permission that is not "any".
func matchNever() *rbacpb.Policy {
	return &rbacpb.Policy{
		Permissions: []*rbacpb.Permission{permissionNot(permissionAny())},
		Principals:  []*rbacpb.Principal{principalNot(principalAny())},
	}
}

// rulePolicy is the Envoy policy of one rule: its permissions are its to
// blocks (each the AND of its operation's fields and the when conditions
// on the destination), its principals its from blocks (each the AND of
// its source's fields and the when conditions on the source). No to (or
// no from) block means any.
func rulePolicy(ap *discovery.AuthorizationPolicy, r *security.Rule, forTCP bool, action rbacpb.RBAC_Action) (*rbacpb.Policy, error) {
	whenPermissions, whenPrincipals := conditionFields(ap.Namespace, r.GetWhen())
	policy := &rbacpb.Policy{}
	for _, to := range orOne(r.GetTo()) {
		p, err := conjunction(permissionLogic, append(operationFields(to.GetOperation()), whenPermissions...), forTCP, action)
		if err != nil {
			return nil, err
		}
		policy.Permissions = append(policy.Permissions, p)
	}
	for _, from := range orOne(r.GetFrom()) {
		p, err := conjunction(principalLogic, append(sourceFields(ap.Namespace, from.GetSource()), whenPrincipals...), forTCP, action)
		if err != nil {
			return nil, err
		}
		policy.Principals = append(policy.Principals, p)
	}
	return policy, nil
}

// orOne is the blocks of a rule, or one empty block when it has none.
func orOne[T any](blocks []*T) []*T {
	if len(blocks) == 0 {
		return []*T{nil}
	}
	return blocks
}

// field is one field of a rule (source.principals, operation.paths, a when
// condition): its values, ORed, and its notValues, ORed and negated.
type field[T any] struct {
	values, notValues []string
	// httpOnly fields do not exist on a TCP connection.
	httpOnly bool
	// each is the matcher of one value; or, for fields Istio matches as a
	// whole list (request principals, JWT claims), all is.
	each func(v string) T
	all  func(vs []string) T
}

// logic builds Envoy's boolean combinations of one matcher type
// (Permission or Principal).
type logic[T any] struct {
	and, or func([]T) T
	not     func(T) T
	any     func() T
}

var errHTTPOnly = errors.New("HTTP-only field on a TCP port")

// conjunction is the AND of the fields (any when there are none). On TCP,
// an HTTP-only field leaves an ALLOW rule out (errHTTPOnly: it allows
// less) and is ignored in a DENY or AUDIT rule (it denies more), as Istio
// does.
func conjunction[T any](l logic[T], fields []field[T], forTCP bool, action rbacpb.RBAC_Action) (T, error) {
	var and []T
	for _, f := range fields {
		if len(f.values)+len(f.notValues) == 0 {
			continue
		}
		if forTCP && f.httpOnly {
			if action == rbacpb.RBAC_ALLOW {
				var zero T
				return zero, errHTTPOnly
			}
			continue
		}
		if len(f.values) > 0 {
			and = append(and, f.match(l, f.values))
		}
		if len(f.notValues) > 0 {
			and = append(and, l.not(f.match(l, f.notValues)))
		}
	}
	if len(and) == 0 {
		and = append(and, l.any())
	}
	return l.and(and), nil
}

func (f field[T]) match(l logic[T], values []string) T {
	if f.all != nil {
		return f.all(values)
	}
	or := make([]T, len(values))
	for i, v := range values {
		or[i] = f.each(v)
	}
	return l.or(or)
}
