// Package execcred is the client side of kubectl's exec credential protocol:
// it reads KUBERNETES_EXEC_INFO and writes the ExecCredential answer in the
// same API version (client.authentication.k8s.io v1 or v1beta1).
package execcred

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientauthv1 "k8s.io/client-go/pkg/apis/clientauthentication/v1"
	clientauthv1beta1 "k8s.io/client-go/pkg/apis/clientauthentication/v1beta1"
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
	case V1:
		var c clientauthv1.ExecCredential
		if err := json.Unmarshal([]byte(value), &c); err != nil {
			return Request{}, fmt.Errorf("%s: malformed %s ExecCredential (%s)", EnvVar, V1, jsonProblem(err, len(value)))
		}
		r := Request{APIVersion: V1, Interactive: c.Spec.Interactive}
		if c.Spec.Cluster != nil {
			r.ClusterServer = c.Spec.Cluster.Server
		}
		return r, nil
	case V1beta1:
		var c clientauthv1beta1.ExecCredential
		if err := json.Unmarshal([]byte(value), &c); err != nil {
			return Request{}, fmt.Errorf("%s: malformed %s ExecCredential (%s)", EnvVar, V1beta1, jsonProblem(err, len(value)))
		}
		r := Request{APIVersion: V1beta1, Interactive: c.Spec.Interactive}
		if c.Spec.Cluster != nil {
			r.ClusterServer = c.Spec.Cluster.Server
		}
		return r, nil
	default:
		return Request{}, fmt.Errorf("%s has apiVersion %q; supported are %s and %s (set apiVersion in the kubeconfig's exec stanza to one of them)", EnvVar, head.APIVersion, V1, V1beta1)
	}
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
	var exp *metav1.Time
	if !expiry.IsZero() {
		exp = &metav1.Time{Time: expiry.UTC()}
	}
	var v any
	switch apiVersion {
	case V1:
		v = &clientauthv1.ExecCredential{
			TypeMeta: metav1.TypeMeta{APIVersion: V1, Kind: kind},
			Status:   &clientauthv1.ExecCredentialStatus{Token: token, ExpirationTimestamp: exp},
		}
	case V1beta1:
		v = &clientauthv1beta1.ExecCredential{
			TypeMeta: metav1.TypeMeta{APIVersion: V1beta1, Kind: kind},
			Status:   &clientauthv1beta1.ExecCredentialStatus{Token: token, ExpirationTimestamp: exp},
		}
	default:
		return fmt.Errorf("unsupported ExecCredential apiVersion %q", apiVersion)
	}
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
