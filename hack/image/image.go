package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image's user: distroless' nonroot (the Dockerfile's USER).
const (
	nonrootUID  = 65532
	nonrootHome = "/home/nonroot"
	caBundle    = "/etc/ssl/certs/ca-certificates.crt"
	entrypoint  = "/oidc-proxy"
)

// exposedPorts: the secure port, /ready and /metrics (the defaults, as EXPOSE).
var exposedPorts = []string{"6443/tcp", "8080/tcp", "8081/tcp"}

// spec is what one image build is made of. The same spec gives the same bytes.
type spec struct {
	Repository string            // ghcr.io/kube-oidc/oidc-proxy
	Tags       []string          // each becomes an index entry named Repository:tag
	Binaries   map[string]string // platform (linux/amd64) -> path of the static oidc-proxy
	CABundle   []byte            // PEM, at /etc/ssl/certs/ca-certificates.crt
	Created    time.Time         // every timestamp: file mtimes, config, history
	Labels     map[string]string // OCI labels of the config (and the index entries' annotations)
}

// file is one entry of the image's single layer.
type file struct {
	name string
	mode int64
	uid  int
	dir  bool
	body []byte
}

// rootFS is the image's filesystem: what distroless/static:nonroot gives a
// static binary (passwd and group naming root and nonroot, a CA bundle, /tmp,
// the nonroot home) and the binary at /oidc-proxy.
func rootFS(binary, ca []byte) []file {
	return []file{
		{name: "etc/", mode: 0o755, dir: true},
		{name: "etc/group", mode: 0o644, body: []byte("root:x:0:\nnonroot:x:65532:\n")},
		{name: "etc/nsswitch.conf", mode: 0o644, body: []byte("hosts: files dns\n")},
		{name: "etc/passwd", mode: 0o644, body: []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{name: "etc/ssl/", mode: 0o755, dir: true},
		{name: "etc/ssl/certs/", mode: 0o755, dir: true},
		{name: strings.TrimPrefix(caBundle, "/"), mode: 0o644, body: ca},
		{name: "home/", mode: 0o755, dir: true},
		{name: strings.TrimPrefix(nonrootHome, "/") + "/", mode: 0o700, uid: nonrootUID, dir: true},
		{name: strings.TrimPrefix(entrypoint, "/"), mode: 0o755, body: binary},
		{name: "tmp/", mode: 0o1777, dir: true},
	}
}

// layerBytes is the gzip-compressed tar of files: entries in order, owner
// and times fixed, no gzip header name or time.
func layerBytes(files []file, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(zw)
	for _, f := range files {
		h := &tar.Header{
			Name: f.name, Mode: f.mode, Uid: f.uid, Gid: f.uid, ModTime: mtime,
			Format: tar.FormatPAX, Typeflag: tar.TypeReg, Size: int64(len(f.body)),
		}
		if f.dir {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("layer entry %s: %w", f.name, err)
		}
		if _, err := tw.Write(f.body); err != nil {
			return nil, fmt.Errorf("layer entry %s: %w", f.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// platformImage is the OCI image of one platform's binary.
func platformImage(s spec, platform, binary string) (v1.Image, error) {
	goos, arch, ok := strings.Cut(platform, "/")
	if !ok {
		return nil, fmt.Errorf("platform %q: want os/arch", platform)
	}
	bin, err := os.ReadFile(binary)
	if err != nil {
		return nil, err
	}
	blob, err := layerBytes(rootFS(bin, s.CABundle), s.Created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(blob)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	created := v1.Time{Time: s.Created}
	img, err := mutate.Append(base, mutate.Addendum{Layer: layer, MediaType: types.OCILayer, History: v1.History{
		Created: created, CreatedBy: "hack/image: oidc-proxy, CA bundle, nonroot user", Comment: "built without Docker (go-containerregistry)",
	}})
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture, cfg.Created = goos, arch, created
	ports := map[string]struct{}{}
	for _, p := range exposedPorts {
		ports[p] = struct{}{}
	}
	cfg.Config = v1.Config{
		User:         fmt.Sprintf("%d:%d", nonrootUID, nonrootUID),
		Entrypoint:   []string{entrypoint},
		WorkingDir:   nonrootHome,
		Env:          []string{"PATH=/usr/local/bin:/usr/bin:/bin", "SSL_CERT_FILE=" + caBundle},
		ExposedPorts: ports,
		Labels:       s.Labels,
	}
	return mutate.ConfigFile(img, cfg)
}

// index is the image index of s: per tag one entry named Repository:tag
// (io.containerd.image.name, org.opencontainers.image.ref.name), pointing at
// the image itself for one platform, at a multi-platform index otherwise.
func index(s spec) (v1.ImageIndex, error) {
	if len(s.Binaries) == 0 || len(s.Tags) == 0 {
		return nil, fmt.Errorf("an image needs a platform and a tag")
	}
	var (
		images []mutate.IndexAddendum
		single v1.Image
	)
	for _, p := range slices.Sorted(maps.Keys(s.Binaries)) {
		img, err := platformImage(s, p, s.Binaries[p])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		goos, arch, _ := strings.Cut(p, "/")
		images = append(images, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: goos, Architecture: arch}}})
		single = img
	}
	var target mutate.Appendable = single
	if len(images) > 1 {
		ii := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
		target = mutate.AppendManifests(ii, images...)
	}
	out := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, tag := range s.Tags {
		ann := map[string]string{
			"io.containerd.image.name":          s.Repository + ":" + tag,
			"org.opencontainers.image.ref.name": tag,
		}
		d := v1.Descriptor{Annotations: ann}
		if len(images) == 1 {
			d.Platform = images[0].Descriptor.Platform
		}
		out = mutate.AppendManifests(out, mutate.IndexAddendum{Add: target, Descriptor: d})
	}
	return out, nil
}

// write puts s as an OCI image layout into a tar file at out (entries
// sorted, fixed times and owner) and returns the digest of what the tags
// name (the image, or the multi-platform index).
func write(s spec, out string) (v1.Hash, error) {
	ii, err := index(s)
	if err != nil {
		return v1.Hash{}, err
	}
	m, err := ii.IndexManifest()
	if err != nil {
		return v1.Hash{}, err
	}
	dir, err := os.MkdirTemp("", "oidc-proxy-image-")
	if err != nil {
		return v1.Hash{}, err
	}
	defer os.RemoveAll(dir)
	if _, err := layout.Write(dir, ii); err != nil {
		return v1.Hash{}, fmt.Errorf("OCI layout: %w", err)
	}
	if err := tarDir(dir, out, s.Created); err != nil {
		return v1.Hash{}, err
	}
	return m.Manifests[0].Digest, nil
}

// tarDir writes the files under dir into the tar file out, sorted by path.
func tarDir(dir, out string, mtime time.Time) error {
	var names []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			rel += "/"
		}
		names = append(names, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		return err
	}
	slices.Sort(names)
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	tmp := out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	tw := tar.NewWriter(f)
	for _, n := range names {
		h := &tar.Header{Name: n, Mode: 0o644, ModTime: mtime, Format: tar.FormatPAX, Typeflag: tar.TypeReg}
		var body []byte
		if strings.HasSuffix(n, "/") {
			h.Mode, h.Typeflag = 0o755, tar.TypeDir
		} else if body, err = os.ReadFile(filepath.Join(dir, filepath.FromSlash(n))); err != nil {
			return err
		}
		h.Size = int64(len(body))
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := tw.Write(body); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}
