package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kube-oidc/kube-oidc/e2e/harness"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// workloadPod is a busybox pod: it prints a greeting and a tick a second,
// and serves its hostname over HTTP on port 8080.
func workloadPod(name string) *corev1.Pod {
	no := false
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken: &no,
			Containers: []corev1.Container{{
				Name:            "main",
				Image:           harness.WorkloadImage,
				ImagePullPolicy: corev1.PullNever,
				Command: []string{"/bin/sh", "-c", `echo "hello from $(hostname)"; mkdir -p /tmp/www; hostname > /tmp/www/index.html; ` +
					`httpd -p 8080 -h /tmp/www; i=0; while :; do echo "tick $i"; i=$((i+1)); sleep 1; done`},
				Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
			}},
			TerminationGracePeriodSeconds: new(int64),
		},
	}
}

// waitPodRunning waits until the pod's containers run and it has an IP.
func waitPodRunning(t *testing.T, ctx context.Context, node *harness.Node, c kubernetes.Interface, ns, name string) *corev1.Pod {
	t.Helper()
	var last string
	for {
		p, err := c.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil && p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" {
			return p
		}
		if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("phase %s, conditions %v, container statuses %v", p.Status.Phase, p.Status.Conditions, p.Status.ContainerStatuses)
		}
		select {
		case <-ctx.Done():
			ev, _ := c.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
			var events []string
			for _, e := range ev.Items {
				events = append(events, e.Reason+": "+e.Message)
			}
			node.Fatalf(t, "pod %s/%s not running: %s\nevents:\n%s", ns, name, last, strings.Join(events, "\n"))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// TestNodeRunsPodWithLogsAndExec: a one-node cluster on this machine
// (containerd with runc and a CNI bridge, kubelet, controller manager,
// scheduler) becomes Ready; a busybox pod is scheduled, runs, and is
// reachable at its pod IP from the host; `kubectl logs` and `kubectl exec`
// (the API server dialling the kubelet) work directly against kube-apiserver.
func TestNodeRunsPodWithLogsAndExec(t *testing.T) {
	start := time.Now()
	node := harness.StartNode(t)
	t.Logf("node Ready %.1fs after start", time.Since(start).Seconds())
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	c := node.API.AdminClient(t)
	if _, err := c.CoreV1().Pods("default").Create(ctx, workloadPod("web"), metav1.CreateOptions{}); err != nil {
		node.Fatalf(t, "create pod: %v", err)
	}
	created := time.Now()
	pod := waitPodRunning(t, ctx, node, c, "default", "web")
	t.Logf("pod running %.1fs after creation, IP %s", time.Since(created).Seconds(), pod.Status.PodIP)
	_, subnet, err := net.ParseCIDR(node.PodSubnet)
	if err != nil {
		t.Fatal(err)
	}
	if !subnet.Contains(net.ParseIP(pod.Status.PodIP)) {
		node.Fatalf(t, "pod IP %s is not on the bridge's subnet %s", pod.Status.PodIP, node.PodSubnet)
	}

	// The pod's server, from the host through the bridge.
	var body string
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(pod.Status.PodIP, "8080")+"/", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = strings.TrimSpace(string(b))
			break
		}
		time.Sleep(200 * time.Millisecond) // httpd starts a moment after the container
	}
	if body != "web" {
		node.Fatalf(t, "GET http://%s:8080/ from the host: %q, want the pod's hostname web", pod.Status.PodIP, body)
	}

	k := adminKubectl(t, node.API)
	var logs harness.KubectlResult
	for ctx.Err() == nil {
		logs = k.Run(ctx, "logs", "web", "--tail=-1")
		if logs.Err == nil && strings.Contains(logs.Stdout, "tick 1") {
			break
		}
		time.Sleep(250 * time.Millisecond) // the second tick is a second away
	}
	if logs.Err != nil || !strings.Contains(logs.Stdout, "hello from web") {
		node.Fatalf(t, "kubectl logs web: %s", logs)
	}
	exec := k.Run(ctx, "exec", "web", "--", "sh", "-c", "echo $((6*7)) $(hostname)")
	if exec.Err != nil || strings.TrimSpace(exec.Stdout) != "42 web" {
		node.Fatalf(t, "kubectl exec web: %s", exec)
	}
}

// TestNodeRunsTheProxyImage: the image of `make image`, imported into the
// node's containerd, is what the chart's default reference names, and runs
// as a pod of a namespace enforcing PodSecurity "restricted" with the
// shipped security context but no runAsUser: the kubelet accepts
// runAsNonRoot only because the image's user is 65532, and the entrypoint
// is the version-stamped oidc-proxy.
func TestNodeRunsTheProxyImage(t *testing.T) {
	image := harness.ProxyImage(t)
	node := harness.StartNode(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	if err := node.ImportImage(ctx, image); err != nil {
		node.Fatalf(t, "%v", err)
	}
	c := node.API.AdminClient(t)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "restricted", Labels: map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted",
	}}}
	if _, err := c.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		node.Fatalf(t, "namespace: %v", err)
	}
	yes, no := true, false
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "oidc-proxy"},
		Spec: corev1.PodSpec{
			RestartPolicy:                corev1.RestartPolicyNever,
			AutomountServiceAccountToken: &no,
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:   &yes,
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{
				Name:            "oidc-proxy",
				Image:           harness.ProxyImageRepository + ":" + harness.ProxyImageTag,
				ImagePullPolicy: corev1.PullNever,
				Args:            []string{"--version"},
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: &no,
					ReadOnlyRootFilesystem:   &yes,
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
			}},
		},
	}
	if _, err := c.CoreV1().Pods("restricted").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		node.Fatalf(t, "create the proxy pod under PodSecurity restricted: %v", err)
	}
	var last string
	for {
		p, err := c.CoreV1().Pods("restricted").Get(ctx, "oidc-proxy", metav1.GetOptions{})
		if err == nil && p.Status.Phase == corev1.PodSucceeded {
			break
		}
		if err == nil && p.Status.Phase == corev1.PodFailed {
			node.Fatalf(t, "the proxy pod failed: %v", p.Status.ContainerStatuses)
		}
		if err == nil {
			last = fmt.Sprintf("phase %s, %v", p.Status.Phase, p.Status.ContainerStatuses)
		}
		select {
		case <-ctx.Done():
			node.Fatalf(t, "the proxy pod did not complete: %s", last)
		case <-time.After(250 * time.Millisecond):
		}
	}
	logs := adminKubectl(t, node.API).Run(ctx, "logs", "-n", "restricted", "oidc-proxy")
	if logs.Err != nil || strings.TrimSpace(logs.Stdout) != "oidc-proxy "+harness.ProxyImageTag {
		node.Fatalf(t, "kubectl logs of the proxy image: %s, want %q", logs, "oidc-proxy "+harness.ProxyImageTag)
	}
}
