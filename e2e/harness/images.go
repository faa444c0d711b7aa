package harness

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// Images the node runs. No registry is reachable: both are built from the
// static busybox of Debian's busybox-static and imported into containerd.
const (
	// PauseImage is containerd's sandbox_image: busybox sh waiting for a signal.
	PauseImage = "registry.k8s.io/pause:3.10"
	// WorkloadImage is busybox with its applets (sh, cat, tar for kubectl cp, nc, httpd).
	WorkloadImage = "e2e.local/busybox:1"
	// Busybox is the component name of the static busybox binary.
	Busybox = "busybox"
)

// staticBusybox returns the path of a statically linked busybox, or why not.
func staticBusybox() (string, error) {
	p, err := FindBinary(Busybox)
	if err != nil {
		return "", fmt.Errorf("%w (apt-get install busybox-static)", err)
	}
	f, err := elf.Open(p)
	if err != nil {
		return "", fmt.Errorf("busybox %s: %w", p, err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return "", fmt.Errorf("busybox %s is dynamically linked: apt-get install busybox-static", p)
		}
	}
	return p, nil
}

// imageEntry is one image of a docker-archive.
type imageEntry struct {
	tag        string
	entrypoint []string
}

// WriteNodeImages writes PauseImage and WorkloadImage as one docker-archive
// tar (`ctr image import` reads it): one layer with /bin/busybox and a
// symlink per applet, two configs differing in their entrypoint.
func WriteNodeImages(path string) error {
	bb, err := staticBusybox()
	if err != nil {
		return err
	}
	bin, err := os.ReadFile(bb)
	if err != nil {
		return err
	}
	out, err := exec.Command(bb, "--list").Output()
	if err != nil {
		return fmt.Errorf("busybox --list: %w", err)
	}
	epoch := time.Unix(0, 0)
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	add := func(h *tar.Header, body []byte) error {
		h.ModTime, h.Format = epoch, tar.FormatPAX
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := tw.Write(body)
		return err
	}
	for _, d := range []string{"bin/", "tmp/", "etc/", "proc/", "sys/", "dev/"} {
		mode := int64(0o755)
		if d == "tmp/" {
			mode = 0o1777
		}
		if err := add(&tar.Header{Name: d, Mode: mode, Typeflag: tar.TypeDir}, nil); err != nil {
			return err
		}
	}
	if err := add(&tar.Header{Name: "bin/busybox", Mode: 0o755, Typeflag: tar.TypeReg, Size: int64(len(bin))}, bin); err != nil {
		return err
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" {
			continue
		}
		if err := add(&tar.Header{Name: "bin/" + applet, Linkname: "busybox", Mode: 0o777, Typeflag: tar.TypeSymlink}, nil); err != nil {
			return err
		}
	}
	passwd := []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
	if err := add(&tar.Header{Name: "etc/passwd", Mode: 0o644, Typeflag: tar.TypeReg, Size: int64(len(passwd))}, passwd); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	sum := sha256.Sum256(layer.Bytes())
	diffID := "sha256:" + hex.EncodeToString(sum[:])

	images := []imageEntry{
		// The sandbox: PID 1 of the pod, exits on TERM or INT.
		{tag: PauseImage, entrypoint: []string{"/bin/sh", "-c", "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done"}},
		{tag: WorkloadImage, entrypoint: []string{"/bin/sh"}},
	}
	var archive bytes.Buffer
	aw := tar.NewWriter(&archive)
	write := func(name string, body []byte) error {
		if err := aw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), ModTime: epoch, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := aw.Write(body)
		return err
	}
	if err := write("layer.tar", layer.Bytes()); err != nil {
		return err
	}
	type manifestEntry struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	var manifest []manifestEntry
	for i, img := range images {
		cfg, err := json.Marshal(map[string]any{
			"architecture": runtime.GOARCH,
			"os":           "linux",
			"created":      epoch.UTC().Format(time.RFC3339),
			"config":       map[string]any{"Entrypoint": img.entrypoint, "Env": []string{"PATH=/bin"}, "WorkingDir": "/"},
			"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{diffID}},
		})
		if err != nil {
			return err
		}
		name := fmt.Sprintf("config-%d.json", i)
		if err := write(name, cfg); err != nil {
			return err
		}
		manifest = append(manifest, manifestEntry{Config: name, RepoTags: []string{img.tag}, Layers: []string{"layer.tar"}})
	}
	m, err := json.Marshal(manifest)
	if err != nil {
		return err
	}
	if err := write("manifest.json", m); err != nil {
		return err
	}
	if err := aw.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, archive.Bytes(), 0o644)
}
