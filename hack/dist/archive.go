package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"
	"time"
)

// File is one entry of a release archive.
type File struct {
	Name string
	Mode fs.FileMode
	Data []byte
}

// writeArchive writes files into path (.zip or .tar.gz, by the name), sorted
// by name, owned by 0:0, with modification time mtime, and returns the
// archive's SHA-256 in hex. The same input gives the same bytes.
func writeArchive(path string, files []File, mtime time.Time) (string, error) {
	files = append([]File(nil), files...)
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	var buf bytes.Buffer
	var err error
	switch {
	case strings.HasSuffix(path, ".zip"):
		err = writeZip(&buf, files, mtime)
	case strings.HasSuffix(path, ".tar.gz"):
		err = writeTarGz(&buf, files, mtime)
	default:
		err = fmt.Errorf("unknown archive type")
	}
	if err != nil {
		return "", fmt.Errorf("archive %s: %w", path, err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	sum := sha256.Sum256(buf.Bytes())
	return hex.EncodeToString(sum[:]), nil
}

func writeTarGz(buf *bytes.Buffer, files []File, mtime time.Time) error {
	gz, err := gzip.NewWriterLevel(buf, gzip.BestCompression)
	if err != nil {
		return err
	}
	// gzip.Header left zero: no name, no time, so the bytes depend on the content only.
	tw := tar.NewWriter(gz)
	for _, f := range files {
		hdr := &tar.Header{
			Typeflag: tar.TypeReg,
			Name:     f.Name,
			Mode:     int64(f.Mode.Perm()),
			Size:     int64(len(f.Data)),
			ModTime:  mtime,
			Format:   tar.FormatUSTAR,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := tw.Write(f.Data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

func writeZip(buf *bytes.Buffer, files []File, mtime time.Time) error {
	zw := zip.NewWriter(buf)
	for _, f := range files {
		hdr := &zip.FileHeader{Name: f.Name, Method: zip.Deflate, Modified: mtime}
		hdr.SetMode(f.Mode.Perm())
		w, err := zw.CreateHeader(hdr)
		if err != nil {
			return err
		}
		if _, err := w.Write(f.Data); err != nil {
			return err
		}
	}
	return zw.Close()
}

// sha256sums is the content of SHA256SUMS, in `sha256sum` format, sorted by file name.
func sha256sums(sums map[string]string) string {
	var b strings.Builder
	for _, n := range slices.Sorted(maps.Keys(sums)) {
		fmt.Fprintf(&b, "%s  %s\n", sums[n], n)
	}
	return b.String()
}
