package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func testSpec(t *testing.T, created time.Time) spec {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "oidc-proxy")
	if err := os.WriteFile(bin, []byte("\x7fELF a static oidc-proxy"), 0o755); err != nil {
		t.Fatal(err)
	}
	return spec{
		Repository: "ghcr.io/kube-oidc/oidc-proxy",
		Tags:       []string{"v0.1.0"},
		Binaries:   map[string]string{"linux/amd64": bin},
		CABundle:   []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"),
		Created:    created,
		Labels:     map[string]string{"org.opencontainers.image.revision": "abc"},
	}
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// TestWriteIsReproducible: the same inputs give the same tar file and
// digest, twice; another source date gives another digest.
func TestWriteIsReproducible(t *testing.T) {
	created := time.Unix(1_700_000_000, 0).UTC()
	dir := t.TempDir()
	var digests []v1.Hash
	for _, name := range []string{"a.tar", "b.tar"} {
		d, err := write(testSpec(t, created), filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, d)
	}
	if digests[0] != digests[1] {
		t.Errorf("digests differ for the same inputs: %s, %s", digests[0], digests[1])
	}
	if fileSum(t, filepath.Join(dir, "a.tar")) != fileSum(t, filepath.Join(dir, "b.tar")) {
		t.Error("tar files differ for the same inputs")
	}
	other, err := write(testSpec(t, created.Add(time.Second)), filepath.Join(dir, "c.tar"))
	if err != nil {
		t.Fatal(err)
	}
	if other == digests[0] {
		t.Error("another source date gave the same digest")
	}
}

// TestImageMatchesTheDockerfile: non-root 65532, the entrypoint, ports and
// labels, OCI media types, the index entry named for containerd, and the
// layer's files with their owners and modes.
func TestImageMatchesTheDockerfile(t *testing.T) {
	s := testSpec(t, time.Unix(1_700_000_000, 0).UTC())
	ii, err := index(s)
	if err != nil {
		t.Fatal(err)
	}
	m, err := ii.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 1 || m.Manifests[0].Annotations["io.containerd.image.name"] != "ghcr.io/kube-oidc/oidc-proxy:v0.1.0" ||
		m.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "v0.1.0" || m.Manifests[0].MediaType != types.OCIManifestSchema1 {
		t.Fatalf("index entries: %+v", m.Manifests)
	}
	img, err := ii.Image(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Config
	if c.User != "65532:65532" || !slices.Equal(c.Entrypoint, []string{"/oidc-proxy"}) || len(c.Cmd) != 0 ||
		c.Labels["org.opencontainers.image.revision"] != "abc" || cfg.OS != "linux" || cfg.Architecture != "amd64" {
		t.Errorf("config: %+v", cfg)
	}
	for _, p := range []string{"6443/tcp", "8080/tcp", "8081/tcp"} {
		if _, ok := c.ExposedPorts[p]; !ok {
			t.Errorf("port %s not exposed: %v", p, c.ExposedPorts)
		}
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %d, %v", len(layers), err)
	}
	if mt, _ := layers[0].MediaType(); mt != types.OCILayer {
		t.Errorf("layer media type %s", mt)
	}
	rc, err := layers[0].Compressed()
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(rc)
	if err != nil {
		t.Fatal(err)
	}
	type entry struct {
		mode     int64
		uid, gid int
		body     string
	}
	got := map[string]entry{}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if _, err := io.Copy(&b, tr); err != nil {
			t.Fatal(err)
		}
		if !h.ModTime.Equal(s.Created) {
			t.Errorf("%s: mtime %v, want the source date", h.Name, h.ModTime)
		}
		got[h.Name] = entry{h.Mode, h.Uid, h.Gid, b.String()}
	}
	want := map[string]entry{
		"oidc-proxy":                        {0o755, 0, 0, "\x7fELF a static oidc-proxy"},
		"etc/ssl/certs/ca-certificates.crt": {0o644, 0, 0, string(s.CABundle)},
		"home/nonroot/":                     {0o700, 65532, 65532, ""},
		"tmp/":                              {0o1777, 0, 0, ""},
	}
	for name, w := range want {
		if g, ok := got[name]; !ok || g != w {
			t.Errorf("%s: %+v (present %v), want %+v", name, g, ok, w)
		}
	}
	if e := got["etc/passwd"]; !bytes.Contains([]byte(e.body), []byte("nonroot:x:65532:65532:")) {
		t.Errorf("etc/passwd has no nonroot user: %q", e.body)
	}
}
