package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kube-oidc/kube-oidc/e2e/harness"
	"github.com/kube-oidc/kube-oidc/internal/syncbuf"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"
)

// deployedProxy is oidc-proxy installed on a Node as a user installs it.
type deployedProxy struct {
	node      *harness.Node
	admin     kubernetes.Interface
	namespace string
	// serverName is the Service's DNS name in the serving certificate; the
	// host reaches the pods at their IPs and verifies this name.
	serverName string
	ca         *harness.CA
	pods       []corev1.Pod
}

// proxyNamespace creates the proxy's namespace enforcing PodSecurity
// "restricted", as deploy/kustomize's namespace.yaml does.
func proxyNamespace(t *testing.T, ctx context.Context, node *harness.Node, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted",
		"pod-security.kubernetes.io/warn":    "restricted",
	}}}
	if _, err := node.API.AdminClient(t).CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		node.Fatalf(t, "namespace %s: %v", name, err)
	}
}

// servingSecret creates the kubernetes.io/tls Secret the shipped forms
// mount, for the Service's DNS names, from a new CA.
func servingSecret(t *testing.T, ctx context.Context, node *harness.Node, namespace, secret, service string) (*harness.CA, string) {
	t.Helper()
	ca, err := harness.NewCA("kube-oidc e2e deployed proxy CA")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	svc := service + "." + namespace + ".svc"
	certFile, keyFile, err := ca.WriteServingCertFor(dir, "proxy", []string{service, service + "." + namespace, svc, svc + ".cluster.local"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	crt, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: secret},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{corev1.TLSCertKey: crt, corev1.TLSPrivateKeyKey: key},
	}
	if _, err := node.API.AdminClient(t).CoreV1().Secrets(namespace).Create(ctx, s, metav1.CreateOptions{}); err != nil {
		node.Fatalf(t, "secret %s/%s: %v", namespace, secret, err)
	}
	return ca, svc
}

// rollout reports whether the Deployment is rolled out (every replica
// updated, ready and available) and returns its pods that are not
// terminating, each Ready.
func (d *deployedProxy) rollout(ctx context.Context, name string, replicas int32) ([]corev1.Pod, error) {
	dep, err := d.admin.AppsV1().Deployments(d.namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("deployment %s/%s: %w", d.namespace, name, err)
	}
	st := dep.Status
	if st.ObservedGeneration < dep.Generation || st.Replicas != replicas || st.UpdatedReplicas != replicas || st.ReadyReplicas != replicas || st.AvailableReplicas != replicas {
		return nil, fmt.Errorf("deployment %s/%s not rolled out: %+v", d.namespace, name, st)
	}
	sel := metav1.FormatLabelSelector(dep.Spec.Selector)
	list, err := d.admin.CoreV1().Pods(d.namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("pods %s: %w", sel, err)
	}
	var pods []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp != nil {
			continue // terminating: no longer a replica
		}
		if !podReady(&p) {
			return nil, fmt.Errorf("proxy pod %s not Ready: %v %v", p.Name, p.Status.Conditions, p.Status.ContainerStatuses)
		}
		pods = append(pods, p)
	}
	if int32(len(pods)) != replicas {
		return nil, fmt.Errorf("%d proxy pods, want %d", len(pods), replicas)
	}
	return pods, nil
}

// readyProxyPods checks that the Deployment is rolled out now and keeps its pods.
func (d *deployedProxy) readyProxyPods(t *testing.T, ctx context.Context, name string, replicas int32) {
	t.Helper()
	pods, err := d.rollout(ctx, name, replicas)
	if err != nil {
		d.describeFailure(t, ctx, err)
	}
	d.pods = pods
}

// waitRollout waits until the Deployment is rolled out and keeps its pods.
func (d *deployedProxy) waitRollout(t *testing.T, ctx context.Context, name string, replicas int32, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for {
		pods, err := d.rollout(ctx, name, replicas)
		if err == nil {
			d.pods = pods
			return
		}
		select {
		case <-deadline:
			d.describeFailure(t, ctx, err)
		case <-ctx.Done():
			d.describeFailure(t, ctx, fmt.Errorf("%w: %w", err, ctx.Err()))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// kubectlFor is the machine's kubectl at one proxy pod's IP, verifying the
// Service's DNS name (tls-server-name), with a bearer token.
func (d *deployedProxy) kubectlFor(t *testing.T, pod corev1.Pod, token string) *harness.Kubectl {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["e2e"] = &clientcmdapi.Cluster{
		Server:                   "https://" + pod.Status.PodIP + ":6443",
		CertificateAuthorityData: d.ca.CertPEM,
		TLSServerName:            d.serverName,
	}
	cfg.AuthInfos["e2e"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["e2e"] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: "e2e"}
	cfg.CurrentContext = "e2e"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return harness.NewPlainKubectl(t, path)
}

// proxyLogs is what the proxy pod logged (its access log among it).
func (d *deployedProxy) proxyLogs(t *testing.T, ctx context.Context, pod string) string {
	t.Helper()
	b, err := d.admin.CoreV1().Pods(d.namespace).GetLogs(pod, &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil {
		d.node.Fatalf(t, "logs of %s: %v", pod, err)
	}
	return string(b)
}

// waitAccessLog waits until the proxy pod's log has want: the access log
// line of a request is written when the request ends, for an upgraded
// connection a moment after the client closed it.
func (d *deployedProxy) waitAccessLog(t *testing.T, ctx context.Context, pod, want string) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		l := d.proxyLogs(t, ctx, pod)
		if strings.Contains(l, want) {
			return
		}
		select {
		case <-deadline:
			d.node.Fatalf(t, "proxy pod %s logged no %s:\n%s", pod, want, l)
		case <-ctx.Done():
			d.node.Fatalf(t, "proxy pod %s logged no %s: %v\n%s", pod, want, ctx.Err(), l)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// probeResult matches a kubelet prober_probe_total sample: pod, probe
// type, result, count.
var probeResult = regexp.MustCompile(`^prober_probe_total\{.*pod="([^"]+)".*probe_type="([^"]+)",result="([^"]+)"\} (\d+)`)

// probesPassed waits until the kubelet (its /metrics/probes, through the
// API server's node proxy) has counted successful readiness and liveness
// probes of every proxy pod, and checks that none restarted.
func (d *deployedProxy) probesPassed(t *testing.T, ctx context.Context) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		raw, err := d.admin.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes", harness.NodeName, "proxy", "metrics", "probes").DoRaw(ctx)
		if err != nil {
			d.node.Fatalf(t, "kubelet /metrics/probes: %v", err)
		}
		ok := map[string]bool{}
		for _, line := range strings.Split(string(raw), "\n") {
			if m := probeResult.FindStringSubmatch(line); m != nil && m[3] == "successful" && m[4] != "0" {
				ok[m[1]+"/"+m[2]] = true
			}
		}
		var missing []string
		for _, p := range d.pods {
			for _, probe := range []string{"Readiness", "Liveness"} {
				if !ok[p.Name+"/"+probe] {
					missing = append(missing, p.Name+" "+probe)
				}
			}
		}
		if len(missing) == 0 {
			break
		}
		select {
		case <-deadline:
			d.node.Fatalf(t, "the kubelet counted no successful probe for %v:\n%s", missing, raw)
		case <-ctx.Done():
			d.node.Fatalf(t, "probes: %v", ctx.Err())
		case <-time.After(time.Second):
		}
	}
	d.readyProxyPods(t, ctx, "oidc-proxy", 2)
	for _, p := range d.pods {
		for _, cs := range p.Status.ContainerStatuses {
			if cs.RestartCount != 0 {
				d.node.Fatalf(t, "proxy pod %s restarted %d times: %v", p.Name, cs.RestartCount, cs.LastTerminationState)
			}
		}
	}
}

// streamingKubectl is a running kubectl whose output is read line by line.
type streamingKubectl struct {
	mu     sync.Mutex
	lines  []string
	stderr lockedBuffer
	notify chan struct{} // a line arrived
	eof    chan struct{} // stdout ended
}

// lockedBuffer is safe to read while other goroutines write it.
type lockedBuffer = syncbuf.Buffer

// startStreaming starts kubectl args with env added; it is killed when ctx ends.
func startStreaming(t *testing.T, ctx context.Context, k *harness.Kubectl, env []string, args ...string) *streamingKubectl {
	t.Helper()
	cmd, _, _ := k.Command(ctx, args...)
	cmd.Env = append(cmd.Env, env...)
	s := &streamingKubectl{notify: make(chan struct{}, 1), eof: make(chan struct{})}
	cmd.Stderr = &s.stderr
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	if err := cmd.Start(); err != nil {
		t.Fatalf("start kubectl %s: %v", strings.Join(args, " "), err)
	}
	go func() { _ = cmd.Wait(); pw.Close() }()
	go func() {
		defer close(s.eof)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			s.mu.Lock()
			s.lines = append(s.lines, sc.Text())
			s.mu.Unlock()
			select {
			case s.notify <- struct{}{}:
			default:
			}
		}
	}()
	return s
}

// waitLine waits for a line matching re after the first skip lines and
// returns its index and submatches.
func (s *streamingKubectl) waitLine(ctx context.Context, skip int, re *regexp.Regexp) (int, []string, error) {
	for {
		s.mu.Lock()
		for i := skip; i < len(s.lines); i++ {
			if m := re.FindStringSubmatch(s.lines[i]); m != nil {
				s.mu.Unlock()
				return i, m, nil
			}
		}
		got := strings.Join(s.lines, "\n")
		s.mu.Unlock()
		select {
		case <-s.notify:
		case <-s.eof:
			s.mu.Lock()
			more := len(strings.Join(s.lines, "\n")) != len(got)
			s.mu.Unlock()
			if !more {
				return 0, nil, fmt.Errorf("kubectl ended without a line matching %s; stdout:\n%s\nstderr:\n%s", re, got, s.stderr.String())
			}
		case <-ctx.Done():
			return 0, nil, fmt.Errorf("no line matching %s: %w; stdout:\n%s\nstderr:\n%s", re, ctx.Err(), got, s.stderr.String())
		}
	}
}

// nodeWithProxyImage starts a Node with the `make image` tar imported
// (under the shipped forms' image reference) and an issuer on the node's
// gateway, reachable from pods and from the host.
func nodeWithProxyImage(t *testing.T, ctx context.Context) (*harness.Node, *harness.Issuer) {
	t.Helper()
	image := harness.ProxyImage(t)
	node := harness.StartNode(t)
	if err := node.ImportImage(ctx, image); err != nil {
		node.Fatalf(t, "%v", err)
	}
	return node, harness.StartIssuerOn(t, "kubernetes", node.Gateway)
}

// installChartOnNode imports the `make image` tar, starts an issuer on the
// node's gateway (reachable from pods and from the host), and installs the
// chart with Helm's library into a PodSecurity-restricted namespace.
func installChartOnNode(t *testing.T, ctx context.Context) (*deployedProxy, *harness.Issuer, time.Duration) {
	t.Helper()
	node, iss := nodeWithProxyImage(t, ctx)
	const ns, release = "oidc-proxy", "oidc-proxy"
	proxyNamespace(t, ctx, node, ns)
	// The chart's default Secret name: <fullname>-tls.
	ca, serverName := servingSecret(t, ctx, node, ns, release+"-tls", release)
	values, err := yaml.Marshal(map[string]any{
		"oidc": map[string]any{
			"issuerUrl":     iss.URL,
			"clientId":      iss.ClientID,
			"caPEM":         string(iss.CAPEM),
			"usernameClaim": "email",
			"groupsClaim":   "groups",
			"groupsPrefix":  "oidc:",
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	chart, err := harness.ShippedPath(harness.ChartDir)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := harness.InstallChart(ctx, t, node.API, chart, release, ns, string(values), 2*time.Minute); err != nil {
		d := &deployedProxy{node: node, admin: node.API.AdminClient(t), namespace: ns}
		d.describeFailure(t, ctx, err)
	}
	took := time.Since(start)
	d := &deployedProxy{node: node, admin: node.API.AdminClient(t), namespace: ns, serverName: serverName, ca: ca}
	d.readyProxyPods(t, ctx, release, 2)
	return d, iss, took
}

// describeFailure fails the test with the proxy pods' states, events and logs.
func (d *deployedProxy) describeFailure(t *testing.T, ctx context.Context, err error) {
	t.Helper()
	var b strings.Builder
	pods, _ := d.admin.CoreV1().Pods(d.namespace).List(context.Background(), metav1.ListOptions{})
	for _, p := range pods.Items {
		fmt.Fprintf(&b, "pod %s: phase %s, conditions %v, containers %v\n", p.Name, p.Status.Phase, p.Status.Conditions, p.Status.ContainerStatuses)
		if logs, lerr := d.admin.CoreV1().Pods(d.namespace).GetLogs(p.Name, &corev1.PodLogOptions{TailLines: ptrTo(int64(30))}).DoRaw(context.Background()); lerr == nil {
			fmt.Fprintf(&b, "logs:\n%s\n", logs)
		}
	}
	ev, _ := d.admin.CoreV1().Events(d.namespace).List(context.Background(), metav1.ListOptions{})
	for _, e := range ev.Items {
		fmt.Fprintf(&b, "event %s %s: %s\n", e.InvolvedObject.Name, e.Reason, e.Message)
	}
	d.node.Fatalf(t, "%v\n%s", err, b.String())
}

// aliceWorkload creates namespace ns with the busybox pod web running, and
// a Role binding user to what a developer debugging it uses: pods, logs,
// exec, attach, port-forward, configmaps.
func (d *deployedProxy) aliceWorkload(t *testing.T, ctx context.Context, ns, user string) {
	t.Helper()
	admin := d.admin
	if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		d.node.Fatalf(t, "namespace %s: %v", ns, err)
	}
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "debugger"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"pods", "pods/log", "configmaps"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{""}, Resources: []string{"pods/exec", "pods/attach", "pods/portforward"}, Verbs: []string{"create", "get"}},
		},
	}
	if _, err := admin.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		d.node.Fatalf(t, "role: %v", err)
	}
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "debugger"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "debugger"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
	}
	if _, err := admin.RbacV1().RoleBindings(ns).Create(ctx, rb, metav1.CreateOptions{}); err != nil {
		d.node.Fatalf(t, "rolebinding: %v", err)
	}
	// The ServiceAccount admission plugin wants the namespace's default
	// service account, which the controller manager creates.
	deadline := time.After(30 * time.Second)
	for {
		_, err := admin.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		if err == nil {
			break
		}
		select {
		case <-deadline:
			d.node.Fatalf(t, "service account %s/default: %v", ns, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	if _, err := admin.CoreV1().Pods(ns).Create(ctx, workloadPod("web"), metav1.CreateOptions{}); err != nil {
		d.node.Fatalf(t, "create pod: %v", err)
	}
	waitPodRunning(t, ctx, d.node, admin, ns, "web")
}

func ptrTo[T any](v T) *T { return &v }

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestNodeHelmChartProxyServesKubectl: the chart installed with Helm's
// library on a real node, as a user installs it: the `make image` image
// under the chart's default reference, 2 replicas, a namespace enforcing
// PodSecurity "restricted", the pods' service account and only the chart's
// RBAC, the issuer reached from the pods. Both pods become Ready (the
// readiness probe asks the API server through the kubernetes Service and
// needs the issuer's keys) and each serves alice. Through one pod, kubectl
// with alice's token does what people do with a workload: get, logs -f,
// exec over WebSocket and SPDY (stdin, exit codes), attach, port-forward
// over WebSocket and SPDY, and cp both ways; a namespace she has no role
// in is refused in her name.
func TestNodeHelmChartProxyServesKubectl(t *testing.T) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	d, iss, installTook := installChartOnNode(t, ctx)
	t.Logf("helm install --wait: %.1fs (both pods Ready); %.1fs since the test started", installTook.Seconds(), time.Since(start).Seconds())
	for _, p := range d.pods {
		if p.Spec.ServiceAccountName != "oidc-proxy" {
			d.node.Fatalf(t, "pod %s runs as service account %q, want the chart's oidc-proxy", p.Name, p.Spec.ServiceAccountName)
		}
		if strings.Contains(strings.Join(p.Spec.Containers[0].Args, " "), "--kubeconfig") {
			d.node.Fatalf(t, "pod %s has a --kubeconfig: %v", p.Name, p.Spec.Containers[0].Args)
		}
		// client-go's in-cluster config: the kubernetes Service.
		if l := d.proxyLogs(t, ctx, p.Name); !strings.Contains(l, "https://"+harness.KubernetesServiceIP+":443") {
			d.node.Fatalf(t, "pod %s does not name the kubernetes Service as its API server:\n%s", p.Name, l)
		}
	}

	const apps, alice = "apps", "alice@example.com"
	d.aliceWorkload(t, ctx, apps, alice)

	token := iss.IDToken(t, alice, []string{"developers"})
	// Each replica serves her: the upstream credential is its own pod's.
	for _, p := range d.pods {
		r := d.kubectlFor(t, p, token).Run(ctx, "get", "pods", "-n", apps, "-o", "name")
		if r.Err != nil || strings.TrimSpace(r.Stdout) != "pod/web" {
			d.node.Fatalf(t, "kubectl get pods through proxy pod %s: %s\n%s", p.Name, r, d.proxyLogs(t, ctx, p.Name))
		}
	}
	via := d.pods[0]
	k := d.kubectlFor(t, via, token)
	if r := k.Run(ctx, "get", "pods", "-n", "default"); r.Err == nil || !strings.Contains(r.Stderr, `User "`+alice+`" cannot list resource "pods"`) {
		d.node.Fatalf(t, "kubectl get pods -n default: %s, want the API server's refusal naming %s", r, alice)
	}

	// logs -f streams lines written after it started: with --tail=1 at
	// most one tick is old.
	step := time.Now()
	logsCtx, stopLogs := context.WithCancel(ctx)
	logs := startStreaming(t, logsCtx, k, nil, "logs", "-f", "--tail=1", "-n", apps, "web")
	tick := regexp.MustCompile(`^tick (\d+)$`)
	i, first, err := logs.waitLine(ctx, 0, tick)
	if err != nil {
		d.node.Fatalf(t, "kubectl logs -f: %v", err)
	}
	_, next, err := logs.waitLine(ctx, i+1, tick)
	if err != nil {
		d.node.Fatalf(t, "kubectl logs -f after %q: %v", first[0], err)
	}
	if a, b := mustAtoi(t, first[1]), mustAtoi(t, next[1]); b != a+1 {
		d.node.Fatalf(t, "kubectl logs -f: %q after %q", next[0], first[0])
	}
	stopLogs()
	t.Logf("logs -f: %q then %q (%.1fs)", first[0], next[0], time.Since(step).Seconds())

	// exec: kubectl's default (WebSocket, GET) and SPDY (POST upgrade).
	for _, proto := range []struct {
		name, method string
		env          []string
	}{
		{"websocket", "GET", nil},
		{"spdy", "POST", []string{"KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false"}},
	} {
		k := d.kubectlFor(t, via, token)
		k.Env = append(k.Env, proto.env...)
		if r := k.Run(ctx, "exec", "-n", apps, "web", "--", "sh", "-c", "echo $((6*7)) $(hostname)"); r.Err != nil || strings.TrimSpace(r.Stdout) != "42 web" {
			d.node.Fatalf(t, "kubectl exec (%s): %s", proto.name, r)
		}
		cmd, stdout, stderr := k.Command(ctx, "exec", "-i", "-n", apps, "web", "--", "sh", "-c", "tr a-z A-Z; exit 3")
		cmd.Stdin = strings.NewReader("through the proxy\n")
		err := cmd.Run()
		if code := cmd.ProcessState.ExitCode(); code != 3 || strings.TrimSpace(stdout.String()) != "THROUGH THE PROXY" {
			d.node.Fatalf(t, "kubectl exec -i (%s): exit %d (%v), stdout %q, stderr %q; want exit 3 and the upper-cased stdin", proto.name, code, err, stdout, stderr)
		}
		// The proxy's access log: the upgrade went through it with this method.
		d.waitAccessLog(t, ctx, via.Name, fmt.Sprintf(`"method":%q,"path":"/api/v1/namespaces/%s/pods/web/exec","code":101`, proto.method, apps))
	}

	// attach: the container's own output, live.
	attachCtx, stopAttach := context.WithCancel(ctx)
	attach := startStreaming(t, attachCtx, k, nil, "attach", "-n", apps, "web", "-c", "main")
	if _, _, err := attach.waitLine(ctx, 0, tick); err != nil {
		d.node.Fatalf(t, "kubectl attach: %v", err)
	}
	stopAttach()
	<-attach.eof

	// port-forward: the pod's httpd on a local port, over kubectl's default
	// (WebSocket, GET) and SPDY (POST upgrade).
	for _, proto := range []struct {
		name, method string
		env          []string
	}{
		{"websocket", "GET", nil},
		{"spdy", "POST", []string{"KUBECTL_PORT_FORWARD_WEBSOCKETS=false"}},
	} {
		pfCtx, stopPF := context.WithCancel(ctx)
		pf := startStreaming(t, pfCtx, k, proto.env, "port-forward", "--address=127.0.0.1", "-n", apps, "pod/web", ":8080")
		_, m, err := pf.waitLine(ctx, 0, regexp.MustCompile(`^Forwarding from 127\.0\.0\.1:(\d+) -> 8080$`))
		if err != nil {
			stopPF()
			d.node.Fatalf(t, "kubectl port-forward (%s): %v", proto.name, err)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+m[1]+"/", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			stopPF()
			d.node.Fatalf(t, "GET through kubectl port-forward (%s): %v\n%s", proto.name, err, pf.stderr.String())
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		stopPF()
		<-pf.eof
		if strings.TrimSpace(string(body)) != "web" {
			d.node.Fatalf(t, "GET through kubectl port-forward (%s): %q, want the pod's hostname web", proto.name, body)
		}
		d.waitAccessLog(t, ctx, via.Name, fmt.Sprintf(`"method":%q,"path":"/api/v1/namespaces/%s/pods/web/portforward","code":101`, proto.method, apps))
	}

	// cp: a local file into the pod and back (tar over exec).
	local := filepath.Join(t.TempDir(), "note.txt")
	if err := os.WriteFile(local, []byte("copied through the proxy\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := k.Run(ctx, "cp", local, apps+"/web:/tmp/note.txt", "-c", "main"); r.Err != nil {
		d.node.Fatalf(t, "kubectl cp into the pod: %s", r)
	}
	back := filepath.Join(t.TempDir(), "back.txt")
	if r := k.Run(ctx, "cp", apps+"/web:/tmp/note.txt", back, "-c", "main"); r.Err != nil {
		d.node.Fatalf(t, "kubectl cp out of the pod: %s", r)
	}
	if got, err := os.ReadFile(back); err != nil || string(got) != "copied through the proxy\n" {
		d.node.Fatalf(t, "kubectl cp round trip: %q, %v", got, err)
	}
	<-logs.eof
	// attach's WebSocket upgrade (GET) through the proxy, as kubectl 1.31+
	// makes it.
	d.waitAccessLog(t, ctx, via.Name, fmt.Sprintf(`"method":"GET","path":"/api/v1/namespaces/%s/pods/web/attach","code":101`, apps))

	d.probesPassed(t, ctx)
	t.Logf("scenario %.1fs", time.Since(start).Seconds())
}

// applyKustomizeOnNode installs deploy/kustomize the way docs/install.md
// says, with the machine's kubectl as the cluster admin: the namespace, the
// serving certificate Secret, then `kubectl apply -k` of an overlay whose
// only change is the issuer in the authentication configuration (the base
// already names the image of `make image`).
func applyKustomizeOnNode(t *testing.T, ctx context.Context) (*deployedProxy, *harness.Issuer, *harness.Issuer, *harness.DexServer, time.Duration) {
	t.Helper()
	node, iss := nodeWithProxyImage(t, ctx)
	const ns, name = "oidc-proxy", "oidc-proxy"
	k := adminKubectl(t, node.API)
	if r := k.Run(ctx, "create", "namespace", ns); r.Err != nil {
		node.Fatalf(t, "kubectl create namespace: %s", r)
	}
	ca, err := harness.NewCA("kube-oidc e2e deployed proxy CA")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	svc := name + "." + ns + ".svc"
	certFile, keyFile, err := ca.WriteServingCertFor(dir, "proxy", []string{name, name + "." + ns, svc}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := k.Run(ctx, "-n", ns, "create", "secret", "tls", name+"-tls", "--cert="+certFile, "--key="+keyFile); r.Err != nil {
		node.Fatalf(t, "kubectl create secret tls: %s", r)
	}
	// A second issuer on the gateway mints the token shapes of real
	// providers (realIdPShapes).
	idp := harness.StartIssuerOn(t, "kubernetes", node.Gateway)
	// Dex on the gateway, for kubectl oidc's own login; its users are
	// prefixed dex: so the API server's answers show which issuer spoke.
	dex := harness.StartDex(t, harness.DexOptions{Host: node.Gateway})
	dexCA, err := os.ReadFile(dex.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	dexJWT := map[string]any{
		"issuer":        map[string]any{"url": dex.Issuer, "audiences": []string{dex.ClientID}, "certificateAuthority": string(dexCA)},
		"claimMappings": map[string]any{"username": map[string]any{"claim": "email", "prefix": "dex:"}},
	}
	authConfig, err := authenticationConfig(map[string]any{
		"issuer": map[string]any{"url": iss.URL, "audiences": []string{iss.ClientID}, "certificateAuthority": string(iss.CAPEM)},
		"claimMappings": map[string]any{
			"username": map[string]any{"claim": "email", "prefix": ""},
			"groups":   map[string]any{"claim": "groups", "prefix": "oidc:"},
		},
	}, idpJWT(idp), dexJWT)
	if err != nil {
		t.Fatal(err)
	}
	patch, err := yaml.Marshal(map[string]any{
		"apiVersion": "v1",
		"kind":       "ConfigMap",
		"metadata":   map[string]any{"name": name + "-authentication"},
		"data":       map[string]any{"config.yaml": authConfig},
	})
	if err != nil {
		t.Fatal(err)
	}
	base, err := harness.ShippedPath(harness.KustomizeDir)
	if err != nil {
		t.Fatal(err)
	}
	odir := filepath.Join(t.TempDir(), "overlay")
	if err := os.MkdirAll(odir, 0o700); err != nil {
		t.Fatal(err)
	}
	// kustomize refuses an absolute path as a base.
	rel, err := filepath.Rel(odir, base)
	if err != nil {
		t.Fatal(err)
	}
	overlay, err := yaml.Marshal(map[string]any{
		"apiVersion": "kustomize.config.k8s.io/v1beta1",
		"kind":       "Kustomization",
		"resources":  []string{rel},
		"patches":    []any{map[string]any{"patch": string(patch)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(odir, "kustomization.yaml"), overlay, 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if r := k.Run(ctx, "apply", "-k", odir); r.Err != nil {
		node.Fatalf(t, "kubectl apply -k: %s", r)
	}
	d := &deployedProxy{node: node, admin: node.API.AdminClient(t), namespace: ns, serverName: svc, ca: ca}
	d.waitRollout(t, ctx, name, 2, 2*time.Minute)
	took := time.Since(start)
	got, err := d.admin.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil || got.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
		node.Fatalf(t, "namespace %s after apply -k: %v, labels %v; want PodSecurity enforce restricted", ns, err, got.Labels)
	}
	return d, iss, idp, dex, took
}

// TestNodeKustomizeProxySurvivesEviction: deploy/kustomize
// applied with `kubectl apply -k` on a real node rolls out 2 Ready replicas
// (PodSecurity restricted, the pods' service account, the shipped RBAC and
// authentication configuration, here trusting a second issuer too).
// Through one replica, `kubectl --as` and the token shapes of real
// providers work with the shipped RBAC alone (impersonationAndIdPShapes).
// alice watches configmaps through each
// replica; one replica is evicted (the Eviction API, which honours the
// PodDisruptionBudget): a second eviction is refused while its replacement
// is not Ready, the other replica's watch goes on and sees the admin's new
// configmap, requests through it succeed, and the replacement serves once
// the Deployment is back to 2. Then one replica is deleted during a watch
// and an exec session (deleteDuringWatchAndExec), and the Deployment is
// rolled to a second tag of the image under a request loop (rollingUpdate).
func TestNodeKustomizeProxySurvivesEviction(t *testing.T) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	d, iss, idp, dex, took := applyKustomizeOnNode(t, ctx)
	t.Logf("kubectl apply -k to 2 Ready pods: %.1fs; %.1fs since the test started", took.Seconds(), time.Since(start).Seconds())
	const apps, alice = "apps", "alice@example.com"
	d.aliceWorkload(t, ctx, apps, alice)
	token := iss.IDToken(t, alice, nil)
	createCM := func(name string) {
		t.Helper()
		if _, err := d.admin.CoreV1().ConfigMaps(apps).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			d.node.Fatalf(t, "configmap %s: %v", name, err)
		}
	}
	createCM("before")
	step := time.Now()
	d.impersonationAndIdPShapes(t, ctx, d.pods[0], apps, alice, token, idp)
	t.Logf("kubectl --as and the real providers' token shapes: %.1fs", time.Since(step).Seconds())
	step = time.Now()
	d.kubectlOIDCWithDex(t, ctx, d.pods[1], apps, dex)
	t.Logf("kubectl oidc setup, login with Dex and kubectl through the pod: %.1fs", time.Since(step).Seconds())
	victim, survivor := d.pods[0], d.pods[1]
	watches := map[string]*streamingKubectl{}
	var stops []context.CancelFunc
	for _, p := range d.pods {
		wctx, stop := context.WithCancel(ctx)
		defer stop()
		stops = append(stops, stop)
		w := startStreaming(t, wctx, d.kubectlFor(t, p, token), nil, "get", "configmaps", "-n", apps, "-w", "-o", "name")
		if _, _, err := w.waitLine(ctx, 0, regexp.MustCompile(`^configmap/before$`)); err != nil {
			d.node.Fatalf(t, "watch through %s: %v", p.Name, err)
		}
		watches[p.Name] = w
	}

	// The disruption controller's view of the two Ready replicas: one may go.
	pdbDeadline := time.After(30 * time.Second)
	for {
		pdb, err := d.admin.PolicyV1().PodDisruptionBudgets(d.namespace).Get(ctx, "oidc-proxy", metav1.GetOptions{})
		if err == nil && pdb.Status.ObservedGeneration == pdb.Generation && pdb.Status.CurrentHealthy == 2 && pdb.Status.DisruptionsAllowed == 1 {
			break
		}
		select {
		case <-pdbDeadline:
			d.node.Fatalf(t, "PodDisruptionBudget oidc-proxy never allowed one disruption: %v %+v", err, pdb)
		case <-time.After(250 * time.Millisecond):
		}
	}
	evict := func(pod string) error {
		return d.admin.PolicyV1().Evictions(d.namespace).Evict(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: pod, Namespace: d.namespace}})
	}
	if err := evict(victim.Name); err != nil {
		d.node.Fatalf(t, "evict %s: %v", victim.Name, err)
	}
	evicted := time.Now()
	if err := evict(survivor.Name); !apierrors.IsTooManyRequests(err) {
		d.node.Fatalf(t, "evict %s right after %s: %v, want 429 (the PodDisruptionBudget's minAvailable: 1)", survivor.Name, victim.Name, err)
	}

	createCM("during")
	if _, _, err := watches[survivor.Name].waitLine(ctx, 0, regexp.MustCompile(`^configmap/during$`)); err != nil {
		d.node.Fatalf(t, "watch through the other replica %s after the eviction: %v", survivor.Name, err)
	}
	if r := d.kubectlFor(t, survivor, token).Run(ctx, "get", "configmaps", "-n", apps, "-o", "name"); r.Err != nil || !strings.Contains(r.Stdout, "configmap/during") {
		d.node.Fatalf(t, "kubectl get through %s after the eviction: %s", survivor.Name, r)
	}

	d.waitRollout(t, ctx, "oidc-proxy", 2, 2*time.Minute)
	t.Logf("back to 2 Ready replicas %.1fs after the eviction", time.Since(evicted).Seconds())
	var replacement *corev1.Pod
	for i := range d.pods {
		if d.pods[i].Name != survivor.Name && d.pods[i].Name != victim.Name {
			replacement = &d.pods[i]
		}
	}
	if replacement == nil {
		d.node.Fatalf(t, "no replacement pod among %v", d.pods)
	}
	if r := d.kubectlFor(t, *replacement, token).Run(ctx, "get", "configmaps", "-n", apps, "-o", "name"); r.Err != nil || !strings.Contains(r.Stdout, "configmap/during") {
		d.node.Fatalf(t, "kubectl get through the replacement %s: %s", replacement.Name, r)
	}
	createCM("after")
	if _, _, err := watches[survivor.Name].waitLine(ctx, 0, regexp.MustCompile(`^configmap/after$`)); err != nil {
		d.node.Fatalf(t, "watch through %s after the replacement: %v", survivor.Name, err)
	}
	d.probesPassed(t, ctx)
	step = time.Now()
	d.deleteDuringWatchAndExec(t, ctx, apps, token)
	t.Logf("deleting a replica during a watch and an exec session: %.1fs", time.Since(step).Seconds())
	select {
	case <-watches[victim.Name].eof:
		t.Logf("the watch through the evicted %s ended: %s", victim.Name, strings.TrimSpace(watches[victim.Name].stderr.String()))
	default:
		t.Logf("the watch through the evicted %s is still open (its pod drains in-flight requests)", victim.Name)
	}
	for _, stop := range stops {
		stop()
	}
	step = time.Now()
	d.rollingUpdate(t, ctx, apps, token)
	t.Logf("rolling update under a request loop: %.1fs", time.Since(step).Seconds())
	t.Logf("scenario %.1fs", time.Since(start).Seconds())
}

// kubectlWhoami is `kubectl auth whoami -o json` with k: the API server's
// view of the request.
func (d *deployedProxy) kubectlWhoami(t *testing.T, ctx context.Context, k *harness.Kubectl, args ...string) authenticationv1.UserInfo {
	t.Helper()
	r := k.Run(ctx, append([]string{"auth", "whoami", "-o", "json"}, args...)...)
	if r.Err != nil {
		d.node.Fatalf(t, "kubectl auth whoami %v: %s", args, r)
	}
	var review authenticationv1.SelfSubjectReview
	if err := json.Unmarshal([]byte(r.Stdout), &review); err != nil {
		d.node.Fatalf(t, "kubectl auth whoami %v: %v\n%s", args, err, r.Stdout)
	}
	return review.Status.UserInfo
}

// impersonationAndIdPShapes: through the deployed proxy pod via, with only
// the shipped RBAC for the proxy's service account, (1) alice, granted
// impersonate on user bob, runs `kubectl --as=bob` (the proxy asks the API
// server with a SubjectAccessReview) and the API server sees bob with
// alice as the original user, while `--as=carol` is refused in her name;
// (2) each of the real providers' token shapes from the second issuer idp
// reads configmaps in ns through one of its groups, and the API server
// sees its user, uid and credential-id extra (checkIdPShape).
// kubectlOIDCWithDex is a user of the deployed proxy with the plugin:
// `kubectl oidc setup` writes the kubeconfig for the pod (whose serving
// certificate names the Service, so `kubectl config set-cluster
// --tls-server-name` follows, as for any address the certificate does not
// name), `kubectl oidc login` logs in to Dex (reached from the pods too)
// with the password grant, and kubectl then lists configmaps and asks who
// it is through the pod with the cached token, as Dex's user.
func (d *deployedProxy) kubectlOIDCWithDex(t *testing.T, ctx context.Context, via corev1.Pod, ns string, dex *harness.DexServer) {
	t.Helper()
	alice := dex.Users[0]
	user := "dex:" + alice.Email
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "debugger-dex"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "debugger"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
	}
	if _, err := d.admin.RbacV1().RoleBindings(ns).Create(ctx, rb, metav1.CreateOptions{}); err != nil {
		d.node.Fatalf(t, "rolebinding for %s: %v", user, err)
	}
	dir := t.TempDir()
	proxyCA := filepath.Join(dir, "proxy-ca.crt")
	if err := os.WriteFile(proxyCA, d.ca.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	k := harness.NewClientKubectl(t, kubeconfig, nil)
	server := "https://" + via.Status.PodIP + ":6443"
	r := k.Plugin(ctx, "setup", "--yes", "--skip-validation",
		"--server="+server, "--server-certificate-authority="+proxyCA,
		"--oidc-issuer-url="+dex.Issuer, "--oidc-client-id="+dex.ClientID, "--oidc-client-secret="+dex.ClientSecret,
		"--certificate-authority="+dex.CAFile, "--oidc-extra-scope=email",
		"--grant-type=password", "--username="+alice.Email, "--token-cache-storage=disk")
	if r.Err != nil {
		d.node.Fatalf(t, "kubectl oidc setup: %s", r)
	}
	cfg, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Contexts[cfg.CurrentContext]
	if c == nil || cfg.AuthInfos[c.AuthInfo] == nil || cfg.AuthInfos[c.AuthInfo].Exec == nil {
		d.node.Fatalf(t, "kubectl oidc setup wrote no exec user for the current context %q", cfg.CurrentContext)
	}
	if r := k.Run(ctx, "config", "set-cluster", c.Cluster, "--tls-server-name="+d.serverName); r.Err != nil {
		d.node.Fatalf(t, "kubectl config set-cluster --tls-server-name: %s", r)
	}
	// Without a login and without a terminal, kubectl is told to log in.
	if r := k.Run(ctx, "get", "configmaps", "-n", ns); r.Err == nil || !strings.Contains(r.Stderr, "kubectl oidc login") {
		d.node.Fatalf(t, "kubectl before a login: %s; want the hint to run kubectl oidc login", r)
	}
	exec := cfg.AuthInfos[c.AuthInfo].Exec
	login := append([]string{"login"}, exec.Args[1:]...)
	for _, e := range exec.Env {
		if e.Name == "KUBECTL_OIDC_CLIENT_SECRET" {
			login = append(login, "--oidc-client-secret="+e.Value)
		}
	}
	login = append(login, "--cluster-server="+server, "--password="+alice.Password)
	if r := k.Plugin(ctx, login...); r.Err != nil {
		d.node.Fatalf(t, "kubectl oidc login with Dex: %s", r)
	}
	if r := k.Run(ctx, "get", "configmaps", "-n", ns, "-o", "name"); r.Err != nil || !strings.Contains(r.Stdout, "configmap/before") {
		d.node.Fatalf(t, "kubectl get through %s with kubectl oidc and Dex: %s", via.Name, r)
	}
	r = k.Run(ctx, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
	if r.Err != nil || r.Stdout != user {
		d.node.Fatalf(t, "kubectl auth whoami through %s: %s; want %s", via.Name, r, user)
	}
	if r := k.Run(ctx, "get", "configmaps", "-n", "default"); r.Err == nil || !strings.Contains(r.Stderr, user) {
		d.node.Fatalf(t, "kubectl get in a namespace without a role: %s; want a refusal in %s's name", r, user)
	}
}

func (d *deployedProxy) impersonationAndIdPShapes(t *testing.T, ctx context.Context, via corev1.Pod, ns, alice, aliceToken string, idp *harness.Issuer) {
	t.Helper()
	const bob = "bob"
	shapes := realIdPShapes(idp)
	subjects := []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: bob}}
	for _, s := range shapes {
		subjects = append(subjects, rbacv1.Subject{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: s.group})
	}
	if _, err := d.admin.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "debugger-bob-and-idp-groups"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "debugger"},
		Subjects:   subjects,
	}, metav1.CreateOptions{}); err != nil {
		d.node.Fatalf(t, "rolebinding for bob and the token shapes' groups: %v", err)
	}
	if _, err := d.admin.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "impersonate-bob"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"users"}, ResourceNames: []string{bob}, Verbs: []string{"impersonate"}}},
	}, metav1.CreateOptions{}); err != nil {
		d.node.Fatalf(t, "clusterrole impersonate-bob: %v", err)
	}
	if _, err := d.admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "alice-impersonates-bob"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "impersonate-bob"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: alice}},
	}, metav1.CreateOptions{}); err != nil {
		d.node.Fatalf(t, "clusterrolebinding alice-impersonates-bob: %v", err)
	}

	k := d.kubectlFor(t, via, aliceToken)
	// RBAC's cache: the new bindings take effect within moments.
	deadline := time.After(10 * time.Second)
	for {
		r := k.Run(ctx, "--as="+bob, "get", "configmaps", "-n", ns, "-o", "name")
		if r.Err == nil && strings.Contains(r.Stdout, "configmap/before") {
			break
		}
		select {
		case <-deadline:
			d.node.Fatalf(t, "kubectl --as=%s get configmaps through %s: %s\n%s", bob, via.Name, r, d.proxyLogs(t, ctx, via.Name))
		case <-time.After(250 * time.Millisecond):
		}
	}
	info := d.kubectlWhoami(t, ctx, k, "--as="+bob)
	if info.Username != bob || !slices.Equal([]string(info.Extra[originalUserPrefix+"user"]), []string{alice}) {
		d.node.Fatalf(t, "kubectl auth whoami --as=%s: %+v, want %s with %suser %s", bob, info, bob, originalUserPrefix, alice)
	}
	if r := k.Run(ctx, "--as=carol", "get", "configmaps", "-n", ns); r.Err == nil || !strings.Contains(r.Stderr, "cannot impersonate") {
		d.node.Fatalf(t, "kubectl --as=carol: %s, want a refusal to impersonate", r)
	}

	for _, s := range shapes {
		k := d.kubectlFor(t, via, idp.Sign(t, s.claims))
		if r := k.Run(ctx, "get", "configmaps", "-n", ns, "-o", "name"); r.Err != nil || !strings.Contains(r.Stdout, "configmap/before") {
			d.node.Fatalf(t, "%s: kubectl get configmaps through %s with only the shipped RBAC: %s\n%s", s.name, via.Name, r, d.proxyLogs(t, ctx, via.Name))
		}
		if err := checkIdPShape(s, d.kubectlWhoami(t, ctx, k)); err != nil {
			d.node.Fatalf(t, "through %s: %v", via.Name, err)
		}
	}
}

// clientFor is a client-go client at one proxy pod's IP with a bearer token.
func (d *deployedProxy) clientFor(t *testing.T, pod corev1.Pod, token string) kubernetes.Interface {
	t.Helper()
	c, err := kubernetes.NewForConfig(&rest.Config{
		Host:            "https://" + pod.Status.PodIP + ":6443",
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAData: d.ca.CertPEM, ServerName: d.serverName},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// deleteDuringWatchAndExec deletes one of the two proxy pods (as `kubectl
// delete pod` does, with its grace period) while alice watches configmaps
// in ns and runs an exec session through it. Requests through the other
// replica succeed at once; the deleted one still serves during its
// --shutdown-delay-duration; the replacement becomes Ready; the watch,
// which the deleted pod ends when its drain starts, resumes through the other replica from
// the last resourceVersion it saw and has every configmap the admin
// created meanwhile, each once and in order; the exec session ends (the
// deleted pod's process exits), it does not hang.
func (d *deployedProxy) deleteDuringWatchAndExec(t *testing.T, ctx context.Context, ns, token string) {
	t.Helper()
	victim, other := d.pods[0], d.pods[1]
	list, err := d.clientFor(t, victim, token).CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		d.node.Fatalf(t, "list configmaps through %s: %v", victim.Name, err)
	}
	ctx, stopWatch := context.WithCancel(ctx) // the resumed watch ends with this step
	defer stopWatch()
	type seen struct{ name, rv string }
	events := make(chan seen, 1000)
	watchEnded := make(chan time.Time, 1)
	watchErr := make(chan error, 1)
	go func() {
		rv := list.ResourceVersion
		for i, via := range []corev1.Pod{victim, other} {
			w, err := d.clientFor(t, via, token).CoreV1().ConfigMaps(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: rv})
			if err != nil {
				watchErr <- fmt.Errorf("watch through %s from resourceVersion %s: %w", via.Name, rv, err)
				return
			}
			for ev := range w.ResultChan() {
				if ev.Type == watch.Error {
					watchErr <- fmt.Errorf("watch through %s: error event %v", via.Name, ev.Object)
					return
				}
				cm, ok := ev.Object.(*corev1.ConfigMap)
				if !ok {
					continue
				}
				rv = cm.ResourceVersion
				if ev.Type == watch.Added {
					events <- seen{cm.Name, rv}
				}
			}
			if i == 0 {
				watchEnded <- time.Now()
			}
		}
	}()
	execCtx, stopExec := context.WithCancel(ctx)
	defer stopExec()
	session := startStreaming(t, execCtx, d.kubectlFor(t, victim, token), nil, "exec", "-n", ns, "web", "--", "sh", "-c", "while :; do echo alive; sleep 1; done")
	if _, _, err := session.waitLine(ctx, 0, regexp.MustCompile(`^alive$`)); err != nil {
		d.node.Fatalf(t, "kubectl exec through %s: %v", victim.Name, err)
	}

	// The admin creates a configmap every 200 ms until the watch has resumed.
	var created []string
	stopCreating := make(chan struct{})
	creatorDone := make(chan struct{})
	go func() {
		defer close(creatorDone)
		for i := 0; ; i++ {
			name := fmt.Sprintf("fault-%03d", i)
			if _, err := d.admin.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err == nil {
				created = append(created, name)
			}
			select {
			case <-stopCreating:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()

	if err := d.admin.CoreV1().Pods(d.namespace).Delete(ctx, victim.Name, metav1.DeleteOptions{}); err != nil {
		d.node.Fatalf(t, "delete %s: %v", victim.Name, err)
	}
	deleted := time.Now()
	for _, p := range []corev1.Pod{other, victim} {
		if r := d.kubectlFor(t, p, token).Run(ctx, "get", "configmaps", "-n", ns, "-o", "name"); r.Err != nil {
			d.node.Fatalf(t, "kubectl get through %s %.1fs after deleting %s: %s", p.Name, time.Since(deleted).Seconds(), victim.Name, r)
		}
	}
	t.Logf("requests through the other replica and the deleted one (draining) served %.1fs after the delete", time.Since(deleted).Seconds())
	d.waitRollout(t, ctx, "oidc-proxy", 2, 2*time.Minute)
	t.Logf("replacement Ready %.1fs after the delete", time.Since(deleted).Seconds())

	// The deleted pod ends the watch when its drain starts (after the 5 s
	// delay), not at --shutdown-timeout (60 s after it).
	var ended time.Time
	select {
	case ended = <-watchEnded:
	case err := <-watchErr:
		d.node.Fatalf(t, "%v", err)
	case <-time.After(100 * time.Second):
		d.node.Fatalf(t, "the watch through the deleted %s never ended", victim.Name)
	}
	if took := ended.Sub(deleted); took >= 60*time.Second {
		d.node.Fatalf(t, "the watch through the deleted %s ended %.1fs after the delete, at the drain timeout; want at the start of the drain", victim.Name, took.Seconds())
	}
	t.Logf("the watch through the deleted %s ended %.1fs after the delete; resumed through %s", victim.Name, ended.Sub(deleted).Seconds(), other.Name)
	select {
	case <-session.eof:
		t.Logf("the exec session through the deleted pod ended (%.1fs after the delete): %q", time.Since(deleted).Seconds(), strings.TrimSpace(session.stderr.String()))
	case <-time.After(20 * time.Second):
		d.node.Fatalf(t, "the exec session through the deleted %s still runs %.1fs after the delete (a hang)", victim.Name, time.Since(deleted).Seconds())
	}
	time.Sleep(time.Second) // a few creations after the resumption
	close(stopCreating)
	<-creatorDone

	got := map[string]int{}
	var order []string
	deadline := time.After(20 * time.Second)
	for len(order) < len(created) {
		select {
		case e := <-events:
			if strings.HasPrefix(e.name, "fault-") {
				got[e.name]++
				order = append(order, e.name)
			}
		case err := <-watchErr:
			d.node.Fatalf(t, "%v", err)
		case <-deadline:
			d.node.Fatalf(t, "the watch saw %d of the %d configmaps created: %v, want %v", len(order), len(created), order, created)
		}
	}
	if !slices.Equal(order, created) {
		d.node.Fatalf(t, "the watch saw %v, want each of %v once, in order", order, created)
	}
	t.Logf("the watch saw all %d configmaps created across the delete, each once", len(created))
}

// rollingUpdate rolls the Deployment out to the same image under a second
// tag (imported into containerd under it) while a loop sends alice's list
// of configmaps in ns every 50 ms to a Ready, non-terminating proxy pod (as
// a Service's endpoints would pick), and a watch with timeoutSeconds=300
// (a long request) runs through an old pod. Every request of the loop
// succeeds or fails only with a connection error a client retries; the
// watch ends when its pod drains, long before its own timeout, with the
// normal end of the response (every byte read, no error), as
// kube-apiserver ends a watch.
func (d *deployedProxy) rollingUpdate(t *testing.T, ctx context.Context, ns, token string) {
	t.Helper()
	dep, err := d.admin.AppsV1().Deployments(d.namespace).Get(ctx, "oidc-proxy", metav1.GetOptions{})
	if err != nil {
		d.node.Fatalf(t, "deployment: %v", err)
	}
	old := dep.Spec.Template.Spec.Containers[0].Image
	repo, _, _ := strings.Cut(old, ":")
	next := repo + ":e2e-rolled"
	if err := d.node.TagImage(ctx, old, next); err != nil {
		d.node.Fatalf(t, "%v", err)
	}

	// The long request: a watch through an old pod, read as raw bytes so
	// that a cut stream (an error) and a clean end (none) differ.
	slowStart, slowPod := time.Now(), d.pods[0].Name
	stream, err := d.clientFor(t, d.pods[0], token).CoreV1().RESTClient().Get().Namespace(ns).Resource("configmaps").
		Param("watch", "true").Param("resourceVersion", "0").Param("timeoutSeconds", "300").Stream(ctx)
	if err != nil {
		d.node.Fatalf(t, "watch through %s: %v", d.pods[0].Name, err)
	}
	slowDone := make(chan error, 1)
	go func() {
		defer stream.Close()
		b, err := io.ReadAll(stream)
		if err != nil {
			slowDone <- fmt.Errorf("cut after %d bytes: %w", len(b), err)
			return
		}
		if len(b) > 0 && b[len(b)-1] != '\n' {
			slowDone <- fmt.Errorf("ended in the middle of an event: %q", b[max(0, len(b)-80):])
			return
		}
		// Its pod got SIGTERM before the watch ended: deleted or terminating.
		p, err := d.admin.CoreV1().Pods(d.namespace).Get(ctx, slowPod, metav1.GetOptions{})
		if err == nil && p.DeletionTimestamp == nil {
			slowDone <- fmt.Errorf("ended before its pod %s was terminating", slowPod)
			return
		}
		slowDone <- nil
	}()

	var mu sync.Mutex
	targets := d.pods
	loopCtx, stopLoop := context.WithCancel(ctx)
	defer stopLoop()
	// The targets: Ready pods that are not terminating, refreshed every 200 ms.
	go func() {
		for loopCtx.Err() == nil {
			list, err := d.admin.CoreV1().Pods(d.namespace).List(loopCtx, metav1.ListOptions{LabelSelector: metav1.FormatLabelSelector(dep.Spec.Selector)})
			if err == nil {
				var ready []corev1.Pod
				for _, p := range list.Items {
					if p.DeletionTimestamp == nil && podReady(&p) && p.Status.PodIP != "" {
						ready = append(ready, p)
					}
				}
				if len(ready) > 0 {
					mu.Lock()
					targets = ready
					mu.Unlock()
				}
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()
	var sent, succeeded int
	failures := map[string]int{}
	var fatal []string
	loopDone := make(chan struct{})
	clients := map[string]kubernetes.Interface{}
	go func() {
		defer close(loopDone)
		for i := 0; loopCtx.Err() == nil; i++ {
			mu.Lock()
			p := targets[i%len(targets)]
			mu.Unlock()
			c, ok := clients[p.Name]
			if !ok {
				c = d.clientFor(t, p, token)
				clients[p.Name] = c
			}
			rctx, cancel := context.WithTimeout(loopCtx, 5*time.Second)
			_, err := c.CoreV1().ConfigMaps(ns).List(rctx, metav1.ListOptions{Limit: 1})
			cancel()
			if loopCtx.Err() != nil {
				break
			}
			sent++
			switch {
			case err == nil:
				succeeded++
			case apierrors.ReasonForError(err) != metav1.StatusReasonUnknown || strings.Contains(err.Error(), "status code"):
				// An answer from the proxy or the API server: not a retry.
				fatal = append(fatal, fmt.Sprintf("%s: %v", p.Name, err))
			default:
				failures[err.Error()]++
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()

	time.Sleep(time.Second) // the loop runs before the update
	patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":"oidc-proxy","image":%q}]}}}}`, next)
	if _, err := d.admin.AppsV1().Deployments(d.namespace).Patch(ctx, "oidc-proxy", "application/strategic-merge-patch+json", []byte(patch), metav1.PatchOptions{}); err != nil {
		d.node.Fatalf(t, "patch the image to %s: %v", next, err)
	}
	updated := time.Now()
	d.waitRollout(t, ctx, "oidc-proxy", 2, 2*time.Minute)
	for _, p := range d.pods {
		if img := p.Spec.Containers[0].Image; img != next {
			d.node.Fatalf(t, "pod %s runs %s after the rollout, want %s", p.Name, img, next)
		}
	}
	for _, p := range d.pods {
		if p.Name == slowPod {
			d.node.Fatalf(t, "pod %s of the old image is still a replica after the rollout", slowPod)
		}
	}
	t.Logf("rolled out to %s in %.1fs (%.1fs after the slow watch started)", next, time.Since(updated).Seconds(), time.Since(slowStart).Seconds())
	time.Sleep(2 * time.Second) // the loop runs on the new pods
	stopLoop()
	<-loopDone
	t.Logf("request loop: %d sent, %d succeeded, %d failed with a connection error (%v), %d failed with an answer", sent, succeeded, sent-succeeded-len(fatal), failures, len(fatal))
	if len(fatal) > 0 || succeeded == 0 {
		d.node.Fatalf(t, "during the rolling update: %d of %d requests failed with an answer a client does not retry: %v", len(fatal), sent, fatal)
	}

	select {
	case err := <-slowDone:
		took := time.Since(slowStart)
		if err != nil {
			d.node.Fatalf(t, "the watch through the old pod %s, %.1fs after it started: %v", slowPod, took.Seconds(), err)
		}
		t.Logf("the watch started before SIGTERM ended cleanly when its pod drained, %.1fs after it started", took.Seconds())
	case <-time.After(90 * time.Second):
		d.node.Fatalf(t, "the watch through the old pod %s did not end when the pod drained", slowPod)
	}
}
