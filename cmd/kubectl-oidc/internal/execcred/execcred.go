// Package execcred is the client side of kubectl's exec credential protocol:
// it reads KUBERNETES_EXEC_INFO and writes the ExecCredential answer in the
// same API version (client.authentication.k8s.io v1 or v1beta1).
//
// The wire types are plain structs with the JSON of client-go's
// k8s.io/client-go/pkg/apis/clientauthentication/v1 and v1beta1 (the two
// versions do not differ in the fields used here), checked against them in
// the tests: importing client-go's types links apimachinery's runtime and
// meta/v1 into every get-token run, for one small JSON object.
package execcred

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// EnvVar is the variable kubectl passes the ExecCredential request in.
const EnvVar = "KUBERNETES_EXEC_INFO"

// API versions of the protocol.
const (
	V1      = "client.authentication.k8s.io/v1"
	V1beta1 = "client.authentication.k8s.io/v1beta1"
	kind    = "ExecCredential"
)

// Request is what kubectl asked for.
type Request struct {
	// APIVersion is the version to answer in (V1 or V1beta1).
	APIVersion string
	// Interactive is false when kubectl says nobody can answer on the terminal.
	Interactive bool
	// ClusterServer is the server URL of the cluster kubectl will send the
	// token to, when the exec stanza sets provideClusterInfo; else "".
	ClusterServer string
}

// ParseRequest parses the value of KUBERNETES_EXEC_INFO. An empty value
// (the variable is absent: an old kubectl, or a person running get-token by
// hand) is a v1beta1 request from an interactive session.
func ParseRequest(value string) (Request, error) {
	if strings.TrimSpace(value) == "" {
		return Request{APIVersion: V1beta1, Interactive: true}, nil
	}
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := json.Unmarshal([]byte(value), &head); err != nil {
		return Request{}, fmt.Errorf("%s is not a JSON ExecCredential (%s); it is set by kubectl, unset it to run get-token by hand", EnvVar, jsonProblem(err, len(value)))
	}
	if head.Kind != kind {
		return Request{}, fmt.Errorf("%s has kind %q, want %q", EnvVar, head.Kind, kind)
	}
	switch head.APIVersion {
	case V1, V1beta1:
	default:
		return Request{}, fmt.Errorf("%s has apiVersion %q; supported are %s and %s (set apiVersion in the kubeconfig's exec stanza to one of them)", EnvVar, head.APIVersion, V1, V1beta1)
	}
	var c execCredential
	if err := json.Unmarshal([]byte(value), &c); err != nil {
		return Request{}, fmt.Errorf("%s: malformed %s ExecCredential (%s)", EnvVar, head.APIVersion, jsonProblem(err, len(value)))
	}
	r := Request{APIVersion: head.APIVersion, Interactive: c.Spec.Interactive}
	if c.Spec.Cluster != nil {
		r.ClusterServer = c.Spec.Cluster.Server
	}
	return r, nil
}

// execCredential is client.authentication.k8s.io ExecCredential (v1 and
// v1beta1), with the fields and JSON names of client-go's types.
type execCredential struct {
	Kind       string  `json:"kind,omitempty"`
	APIVersion string  `json:"apiVersion,omitempty"`
	Spec       spec    `json:"spec"`
	Status     *status `json:"status,omitempty"`
}

type spec struct {
	Cluster     *cluster `json:"cluster,omitempty"`
	Interactive bool     `json:"interactive"`
}

// cluster is ExecCredential's spec.cluster. Only Server is used; the other
// fields are decoded so that a malformed value is refused as client-go's
// types refuse it.
type cluster struct {
	Server                   string          `json:"server"`
	TLSServerName            string          `json:"tls-server-name,omitempty"`
	InsecureSkipTLSVerify    bool            `json:"insecure-skip-tls-verify,omitempty"`
	CertificateAuthorityData []byte          `json:"certificate-authority-data,omitempty"`
	ProxyURL                 string          `json:"proxy-url,omitempty"`
	DisableCompression       bool            `json:"disable-compression,omitempty"`
	Config                   json.RawMessage `json:"config,omitempty"`
}

type status struct {
	ExpirationTimestamp *timestamp `json:"expirationTimestamp,omitempty"`
	Token               string     `json:"token,omitempty"`
}

// timestamp is metav1.Time's JSON: RFC 3339 in UTC to the second, null for
// the zero time; a value that is not RFC 3339 is refused.
type timestamp struct{ time.Time }

func (t timestamp) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(t.UTC().Format(time.RFC3339))
}

func (t *timestamp) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		t.Time = time.Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	parsed, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return err
	}
	t.Time = parsed.Local()
	return nil
}

// jsonProblem describes a JSON error without quoting the input (it may
// hold a token).
func jsonProblem(err error, size int) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn) && syn.Offset >= int64(size):
		return "truncated JSON"
	case errors.As(err, &syn):
		return fmt.Sprintf("invalid JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q has the wrong type", typ.Field)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated JSON"
	}
	return "invalid JSON"
}

// Write writes the ExecCredential answer for token to w, in apiVersion.
// A zero expiry is left out (kubectl then keeps the token for the process).
func Write(w io.Writer, apiVersion, token string, expiry time.Time) error {
	if apiVersion != V1 && apiVersion != V1beta1 {
		return fmt.Errorf("unsupported ExecCredential apiVersion %q", apiVersion)
	}
	st := &status{Token: token}
	if !expiry.IsZero() {
		st.ExpirationTimestamp = &timestamp{expiry}
	}
	v := execCredential{Kind: kind, APIVersion: apiVersion, Status: st}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode ExecCredential: %w", err)
	}
	b = append(b, '\n')
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("write ExecCredential: %w", err)
	}
	return nil
}
