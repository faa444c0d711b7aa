package harness

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Node components: the container runtime from Debian (containerd, runc, the
// CNI plugins), the Kubernetes ones built by e2e/hack/build-bins.sh.
const (
	Containerd            = "containerd"
	Ctr                   = "ctr"
	Runc                  = "runc"
	Kubelet               = "kubelet"
	KubeControllerManager = "kube-controller-manager"
	KubeScheduler         = "kube-scheduler"
	// CNIBinDir is where Debian's containernetworking-plugins installs.
	CNIBinDir = "/usr/lib/cni"
	// NodeName is the node's name (and --hostname-override).
	NodeName = "e2e-node"
)

// Node is a one-node cluster: an APIServer (that reaches the kubelet at
// the bridge's gateway with a client certificate), kube-controller-manager,
// kube-scheduler, containerd with runc and a CNI bridge, and a kubelet.
// Pods get addresses on the bridge, reachable from the host; pods reach the
// API server through the kubernetes Service (routeKubernetesService) and
// whatever else listens on the gateway.
type Node struct {
	API        *APIServer
	Dir        string
	Containerd *Process
	Kubelet    *Process
	Controller *Process
	Scheduler  *Process
	// PodSubnet is the bridge's subnet; Gateway its host-side address.
	PodSubnet string
	Gateway   net.IP

	ctr, sock, bridge string
	netns             []string // of sandboxes left when containerd stops
	iptables          string
	serviceRule       []string // the kubernetes Service's DNAT rule, without -t/-A
}

// KubernetesServiceIP is the kubernetes Service's ClusterIP: the first
// address of the API server's --service-cluster-ip-range.
const KubernetesServiceIP = "10.0.0.1"

// requireNodeBinaries returns the paths of the node's components, failing
// the test with every one that is missing and how to get it.
func requireNodeBinaries(t testing.TB) map[string]string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("e2e dependency missing: the node scenarios run containerd and the kubelet, which need root (uid %d)", os.Geteuid())
	}
	paths := map[string]string{}
	var missing []string
	for _, name := range []string{Containerd, Ctr, Runc, Kubelet, KubeControllerManager, KubeScheduler} {
		p, err := FindBinary(name)
		if err != nil {
			missing = append(missing, err.Error())
			continue
		}
		paths[name] = p
	}
	if _, err := exec.LookPath("containerd-shim-runc-v2"); err != nil {
		missing = append(missing, "containerd-shim-runc-v2 not in PATH: apt-get install containerd")
	}
	for _, plugin := range []string{"bridge", "host-local", "loopback"} {
		if _, err := os.Stat(filepath.Join(CNIBinDir, plugin)); err != nil {
			missing = append(missing, fmt.Sprintf("CNI plugin %s: %v: apt-get install containernetworking-plugins", plugin, err))
		}
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		missing = append(missing, "iptables not in PATH (the kubernetes Service's DNAT rule): apt-get install iptables")
	}
	if _, err := staticBusybox(); err != nil {
		missing = append(missing, err.Error())
	}
	if len(missing) > 0 {
		t.Fatalf("e2e dependency missing for the node:\n  %s", strings.Join(missing, "\n  "))
	}
	return paths
}

// StartNode starts the cluster and waits until the node is Ready and the
// default service account of namespace default exists. Everything is
// stopped and unmounted when the test ends.
func StartNode(t testing.TB) *Node {
	t.Helper()
	bins := requireNodeBinaries(t)
	dir := t.TempDir()
	// The kubelet listens on unix sockets under its root directory, the
	// longest a temporary name in pod-resources/ (up to 10 digits); a socket
	// path has at most 107 bytes, and t.TempDir's path grows with the test's name.
	if sock := filepath.Join(dir, "kubelet", "root", "pod-resources", "4294967295"); len(sock) > 107 {
		t.Fatalf("node: the kubelet's socket %s would be %d bytes, over the 107 of a unix socket path: shorten the test's name (t.TempDir is %s)", sock, len(sock), dir)
	}
	n := &Node{Dir: dir, ctr: bins[Ctr], sock: filepath.Join(dir, "containerd", "containerd.sock")}
	// Registered first, so it runs last: after every component has stopped.
	t.Cleanup(func() { n.release(t) })

	ca, err := NewCA("kube-oidc e2e node CA")
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.crt")
	mustWrite(t, caFile, string(ca.CertPEM))
	clientCert, clientKey, err := writeCert(ca, dir, "apiserver-kubelet-client", x509.ExtKeyUsageClientAuth)
	if err != nil {
		t.Fatal(err)
	}
	n.makeBridge(t)
	servingCert, servingKey, err := writeCert(ca, dir, "kubelet", x509.ExtKeyUsageServerAuth, n.Gateway)
	if err != nil {
		t.Fatal(err)
	}
	n.API = StartAPIServerWithArgs(t,
		// Also on the bridge's gateway, where the kubernetes Service's
		// address is sent (routeKubernetesService); URL stays 127.0.0.1.
		"--bind-address=0.0.0.0",
		"--kubelet-client-certificate="+clientCert,
		"--kubelet-client-key="+clientKey,
		"--kubelet-certificate-authority="+caFile,
		"--kubelet-preferred-address-types=InternalIP",
	)
	n.routeKubernetesService(t)
	kubeconfig := filepath.Join(dir, "admin.kubeconfig")
	if err := WriteKubeconfig(kubeconfig, n.API.URL, n.API.CAPEM, &clientcmdapi.AuthInfo{Token: n.API.AdminToken}); err != nil {
		t.Fatal(err)
	}

	n.startContainerd(t, bins)
	n.startKubelet(t, bins[Kubelet], kubeconfig, caFile, servingCert, servingKey)
	n.Controller = startProcess(t, KubeControllerManager, dir, nil, bins[KubeControllerManager],
		"--kubeconfig="+kubeconfig,
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", freePort(t)),
		"--root-ca-file="+n.API.CAFile,
		"--service-account-private-key-file="+filepath.Join(n.API.Dir, "sa.key"),
		"--use-service-account-credentials=false",
		"-v=1",
	)
	n.Scheduler = startProcess(t, KubeScheduler, dir, nil, bins[KubeScheduler],
		"--kubeconfig="+kubeconfig,
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", freePort(t)),
		"-v=1",
	)
	// Runs before the kubelet stops: pods deleted, so it tears their
	// sandboxes, volumes and addresses down itself.
	t.Cleanup(func() { n.deletePods(t) })
	n.waitReady(t)
	return n
}

// makeBridge creates this node's bridge (a name and /24 of its own, so
// concurrent nodes do not share them) with the gateway address up: the
// kubelet's node IP, which the API server dials, and the pods' gateway (the
// CNI bridge plugin takes the existing bridge).
func (n *Node) makeBridge(t testing.TB) {
	t.Helper()
	b := make([]byte, 2)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	n.bridge = fmt.Sprintf("kocni%02x%02x", b[0], b[1])
	n.PodSubnet = fmt.Sprintf("10.%d.%d.0/24", 200+int(b[1])%50, 16+int(b[0])%200)
	_, ipnet, err := net.ParseCIDR(n.PodSubnet)
	if err != nil {
		t.Fatal(err)
	}
	n.Gateway = slices.Clone(ipnet.IP.To4())
	n.Gateway[3] = 1
	for _, args := range [][]string{
		{"link", "add", n.bridge, "type", "bridge"},
		{"addr", "add", n.Gateway.String() + "/24", "dev", n.bridge},
		{"link", "set", n.bridge, "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("e2e dependency missing for the node: ip %s: %v: %s (iproute2, and a kernel with bridge support)", strings.Join(args, " "), err, out)
		}
	}
}

// routeKubernetesService does for the kubernetes Service what kube-proxy
// does in a cluster: connections from this node's pods to its ClusterIP
// (KubernetesServiceIP:443, the KUBERNETES_SERVICE_HOST/PORT the kubelet
// gives every pod, which client-go's in-cluster config dials) are
// DNAT-ed to kube-apiserver's secure port on the gateway. The rule matches
// this node's bridge only, so concurrent nodes do not see each other's, and
// is removed by release. kube-apiserver's self-signed certificate names
// the ClusterIP, so in-cluster clients verify it as in a cluster.
func (n *Node) routeKubernetesService(t testing.TB) {
	t.Helper()
	u, err := url.Parse(n.API.URL)
	if err != nil {
		t.Fatal(err)
	}
	ipt, err := exec.LookPath("iptables")
	if err != nil {
		t.Fatalf("e2e dependency missing for the node: iptables (the kubernetes Service's DNAT rule): %v: apt-get install iptables", err)
	}
	n.iptables = ipt
	n.serviceRule = []string{"PREROUTING", "-i", n.bridge, "-d", KubernetesServiceIP, "-p", "tcp", "--dport", "443",
		"-m", "comment", "--comment", "kube-oidc e2e " + n.bridge,
		"-j", "DNAT", "--to-destination", net.JoinHostPort(n.Gateway.String(), u.Port())}
	if out, err := exec.Command(ipt, append([]string{"-w", "-t", "nat", "-A"}, n.serviceRule...)...).CombinedOutput(); err != nil {
		n.serviceRule = nil
		t.Fatalf("node: iptables DNAT rule for the kubernetes Service: %v: %s (the kernel's nat table, iptable_nat or nf_tables)", err, out)
	}
}

// writeCert issues a certificate for 127.0.0.1 with the given usage.
func writeCert(ca *CA, dir, name string, usage x509.ExtKeyUsage, ips ...net.IP) (certFile, keyFile string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: randSerial(),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		DNSNames:     []string{"localhost", NodeName},
		IPAddresses:  append([]net.IP{net.IPv4(127, 0, 0, 1)}, ips...),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		return "", "", fmt.Errorf("certificate %s: %w", name, err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

// startContainerd writes containerd's config (its own root, state, socket
// and CNI configuration under the node's directory), starts it, and imports
// the node's images into the k8s.io namespace.
//
// restrict_oom_score_adj: the CRI plugin asks runc to set the sandbox's
// oom_score_adj to -998 and containers' by QoS class; lowering it needs
// CAP_SYS_RESOURCE, which this machine type's root lacks, and runc's child
// then dies before it reports its PID ("can't get final child's PID from
// pipe: EOF"). Restricted, containerd never asks for less than its own score.
func (n *Node) startContainerd(t testing.TB, bins map[string]string) {
	t.Helper()
	cdir := filepath.Join(n.Dir, "containerd")
	cniConf := filepath.Join(cdir, "cni")
	for _, d := range []string{cdir, cniConf} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	bridge := n.bridge
	mustWrite(t, filepath.Join(cniConf, "10-e2e.conflist"), fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "e2e",
  "plugins": [{
    "type": "bridge",
    "bridge": %q,
    "isGateway": true,
    "ipMasq": false,
    "hairpinMode": true,
    "ipam": {
      "type": "host-local",
      "ranges": [[{"subnet": %q, "gateway": %q}]],
      "routes": [{"dst": "0.0.0.0/0"}],
      "dataDir": %q
    }
  }]
}
`, bridge, n.PodSubnet, n.Gateway.String(), filepath.Join(cdir, "ipam")))
	config := filepath.Join(cdir, "config.toml")
	mustWrite(t, config, fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = %q
[plugins."io.containerd.internal.v1.opt"]
  path = %q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = %q
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %q
    conf_dir = %q
`, filepath.Join(cdir, "root"), filepath.Join(cdir, "state"), n.sock, filepath.Join(cdir, "opt"),
		PauseImage, bins[Runc], CNIBinDir, cniConf))
	n.Containerd = startProcess(t, Containerd, n.Dir, nil, bins[Containerd], "--config", config)
	// Runs before containerd stops: whatever the kubelet left is killed.
	t.Cleanup(func() { n.killTasks(t) })

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := waitReady(ctx, n.Containerd, 100*time.Millisecond, func(ctx context.Context) error {
		_, err := n.runCtr(ctx, "version")
		return err
	}); err != nil {
		t.Fatalf("containerd: %v\n%s", err, n.Containerd.Describe())
	}
	images := filepath.Join(n.Dir, "node-images.tar")
	if err := WriteNodeImages(images); err != nil {
		t.Fatalf("node images: %v", err)
	}
	if err := n.ImportImage(ctx, images); err != nil {
		t.Fatalf("%v\n%s", err, n.Containerd.Describe())
	}
}

// ImportImage loads an image archive (docker-archive or OCI layout tar)
// into containerd's k8s.io namespace, where the kubelet finds it.
func (n *Node) ImportImage(ctx context.Context, archive string) error {
	if out, err := n.runCtr(ctx, "-n", "k8s.io", "images", "import", archive); err != nil {
		return fmt.Errorf("ctr images import %s: %w: %s", archive, err, out)
	}
	return nil
}

// TagImage gives the imported image src the reference dst too (ctr images tag).
func (n *Node) TagImage(ctx context.Context, src, dst string) error {
	if out, err := n.runCtr(ctx, "-n", "k8s.io", "images", "tag", "--force", src, dst); err != nil {
		return fmt.Errorf("ctr images tag %s %s: %w: %s", src, dst, err, out)
	}
	return nil
}

func (n *Node) runCtr(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, n.ctr, append([]string{"--address", n.sock}, args...)...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// startKubelet starts the kubelet for cgroup v1 without systemd: cgroupfs,
// no QoS cgroups or node allocatable enforcement, swap allowed, serving at
// the bridge's gateway address (--node-ip: the kubelet refuses a loopback
// node IP, and the API server dials the InternalIP), accepting only the API
// server's client certificate.
func (n *Node) startKubelet(t testing.TB, bin, kubeconfig, caFile, cert, key string) {
	t.Helper()
	kdir := filepath.Join(n.Dir, "kubelet")
	if err := os.MkdirAll(kdir, 0o700); err != nil {
		t.Fatal(err)
	}
	port, healthz := freePort(t), freePort(t)
	config := filepath.Join(kdir, "config.yaml")
	mustWrite(t, config, fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %s
port: %d
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %d
tlsCertFile: %q
tlsPrivateKeyFile: %q
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: %q}
authorization: {mode: AlwaysAllow}
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
oomScoreAdj: 0
containerRuntimeEndpoint: unix://%s
imageServiceEndpoint: unix://%s
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 1Mi, nodefs.available: 1%%, imagefs.available: 1%%}
syncFrequency: 5s
fileCheckFrequency: 5s
nodeStatusUpdateFrequency: 5s
registerNode: true
resolvConf: ""
`, n.Gateway, port, healthz, cert, key, caFile, n.sock, n.sock))
	n.Kubelet = startProcess(t, Kubelet, n.Dir, nil, bin,
		"--config="+config,
		"--kubeconfig="+kubeconfig,
		"--root-dir="+filepath.Join(kdir, "root"),
		"--cert-dir="+filepath.Join(kdir, "pki"),
		"--node-ip="+n.Gateway.String(),
		"--hostname-override="+NodeName,
		"-v=1",
	)
}

// waitReady waits for the node's Ready condition, the default service
// account and the kubernetes Service.
func (n *Node) waitReady(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	c := n.API.AdminClient(t)
	err := waitReady(ctx, n.Kubelet, 250*time.Millisecond, func(ctx context.Context) error {
		for _, p := range []*Process{n.Containerd, n.Controller, n.Scheduler} {
			if exited, err := p.Exited(); exited {
				n.Fatalf(t, "node: %s exited before the node was Ready: %v", p.Name, err)
			}
		}
		node, err := c.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, cond := range node.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status != corev1.ConditionTrue {
				return fmt.Errorf("node %s not Ready: %s: %s", NodeName, cond.Reason, cond.Message)
			}
		}
		if !slices.ContainsFunc(node.Status.Conditions, func(c corev1.NodeCondition) bool { return c.Type == corev1.NodeReady }) {
			return fmt.Errorf("node %s has no Ready condition yet", NodeName)
		}
		if _, err := c.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{}); err != nil {
			return fmt.Errorf("service account default/default: %w", err)
		}
		svc, err := c.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("service default/kubernetes: %w", err)
		}
		if svc.Spec.ClusterIP != KubernetesServiceIP {
			return fmt.Errorf("service default/kubernetes has ClusterIP %s, the DNAT rule is for %s", svc.Spec.ClusterIP, KubernetesServiceIP)
		}
		return nil
	})
	if err != nil {
		n.Fatalf(t, "node: %v", err)
	}
}

// Fatalf fails the test with the logs of every node component.
func (n *Node) Fatalf(t testing.TB, format string, args ...any) {
	t.Helper()
	var b strings.Builder
	for _, p := range []*Process{n.Kubelet, n.Containerd, n.Controller, n.Scheduler} {
		if p != nil {
			b.WriteString(p.Describe())
			b.WriteByte('\n')
		}
	}
	t.Fatalf("%s\n%s%s", fmt.Sprintf(format, args...), b.String(), n.API.Process.Describe())
}

// deletePods deletes every pod at once and gives the kubelet a moment to
// stop them (their sandboxes, volumes and addresses).
func (n *Node) deletePods(t testing.TB) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := kubernetes.NewForConfig(n.API.RESTConfig(n.API.AdminToken))
	if err != nil {
		return
	}
	nss, err := c.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	zero := int64(0)
	for _, ns := range nss.Items {
		_ = c.CoreV1().Pods(ns.Name).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero}, metav1.ListOptions{})
	}
	for ctx.Err() == nil {
		out, err := n.runCtr(ctx, "-n", "k8s.io", "tasks", "ls", "-q")
		if err != nil || out == "" {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
	t.Logf("node: containers still running 30 s after their pods were deleted; killing them")
}

// killTasks kills and removes whatever containers are left, and notes the
// network namespaces of the sandboxes (the CRI plugin removes one only with
// its sandbox, which the kubelet garbage-collects later).
func (n *Node) killTasks(t testing.TB) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := n.runCtr(ctx, "-n", "k8s.io", "tasks", "ls", "-q"); err == nil {
		for _, id := range strings.Fields(out) {
			_, _ = n.runCtr(ctx, "-n", "k8s.io", "tasks", "kill", "-s", "SIGKILL", id)
			_, _ = n.runCtr(ctx, "-n", "k8s.io", "tasks", "delete", "-f", id)
		}
	}
	out, err := n.runCtr(ctx, "-n", "k8s.io", "containers", "ls", "-q")
	if err != nil {
		return
	}
	for _, id := range strings.Fields(out) {
		info, err := n.runCtr(ctx, "-n", "k8s.io", "containers", "info", id)
		if err != nil {
			continue
		}
		var c struct {
			Spec struct {
				Linux struct {
					Namespaces []struct{ Type, Path string }
				}
			}
		}
		if json.Unmarshal([]byte(info), &c) != nil {
			continue
		}
		for _, ns := range c.Spec.Linux.Namespaces {
			if ns.Type == "network" && strings.HasPrefix(ns.Path, "/var/run/netns/") && !slices.Contains(n.netns, ns.Path) {
				n.netns = append(n.netns, ns.Path)
			}
		}
	}
}

// release ends what outlives containerd: its shims (found by our socket
// path in their command line, so only this node's), mounts under the
// node's directory (the kubelet's volumes, overlay snapshots, sandbox
// /dev/shm), and the bridge.
func (n *Node) release(t testing.TB) {
	if n.sock != "" {
		for _, pid := range processesWithArg(n.sock) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	mounts, err := mountsUnder(n.Dir)
	if err != nil {
		t.Logf("node: %v", err)
	}
	for i := len(mounts) - 1; i >= 0; i-- {
		if err := syscall.Unmount(mounts[i], syscall.MNT_DETACH); err != nil {
			t.Logf("node: unmount %s: %v", mounts[i], err)
		}
	}
	for _, ns := range n.netns {
		_ = syscall.Unmount(ns, syscall.MNT_DETACH)
		if err := os.Remove(ns); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Logf("node: remove network namespace %s: %v", ns, err)
		}
	}
	if n.serviceRule != nil {
		if out, err := exec.Command(n.iptables, append([]string{"-w", "-t", "nat", "-D"}, n.serviceRule...)...).CombinedOutput(); err != nil {
			t.Logf("node: delete the kubernetes Service's DNAT rule: %v: %s", err, out)
		}
	}
	if n.bridge != "" {
		if out, err := exec.Command("ip", "link", "delete", n.bridge).CombinedOutput(); err != nil && !strings.Contains(string(out), "Cannot find device") {
			t.Logf("node: delete bridge %s: %v: %s", n.bridge, err, out)
		}
	}
}

// processesWithArg lists the PIDs whose command line has arg.
func processesWithArg(arg string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if slices.Contains(strings.Split(string(b), "\x00"), arg) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// mountsUnder lists the mount points at or below dir, in mount order.
func mountsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 5 {
			continue
		}
		mp := strings.ReplaceAll(fields[4], `\040`, " ")
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	return out, s.Err()
}
