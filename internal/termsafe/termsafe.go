// Package termsafe makes text from outside the program (a discovery
// document, an identity provider's claims and error messages, a server's
// certificate) safe to print on a terminal: one function that every such
// string goes through.
package termsafe

import (
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// String returns s with every character that could change what a terminal
// shows replaced by a visible escape: C0 and C1 control characters and DEL
// (ESC starts the escape sequences that move the cursor, clear the screen or
// set the window title) as \xNN or \uNNNN, Unicode format characters
// (bidirectional overrides, zero-width characters) as \uNNNN, and bytes
// that are not UTF-8 as \xNN. Everything else, backslashes included, is
// kept, so a string without such characters is returned unchanged.
func String(s string) string {
	if safe(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r < 0x80 && unsafeRune(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// Strings returns String of each element.
func Strings(in []string) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = String(s)
	}
	return out
}

func safe(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return safeSlow(s)
		}
	}
	return true
}

func safeSlow(s string) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || unsafeRune(r) {
			return false
		}
		i += size
	}
	return true
}

// unsafeRune: control (Cc), format (Cf), line and paragraph separators,
// and unassigned private surrogates never reach here (not valid UTF-8).
func unsafeRune(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029'
}

// Args returns args with every string, error and fmt.Stringer replaced by
// String of its text, for a format that is the program's own.
func Args(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case string:
			out[i] = String(v)
		case []string:
			out[i] = Strings(v)
		case error:
			out[i] = String(v.Error())
		case fmt.Stringer:
			out[i] = String(v.String())
		default:
			out[i] = a
		}
	}
	return out
}

// Fprintf is fmt.Fprintf with Args applied to args: the format is trusted,
// the values are not.
func Fprintf(w io.Writer, format string, args ...any) (int, error) {
	return fmt.Fprintf(w, format, Args(args)...)
}

// Fprintln writes String of the line and a newline.
func Fprintln(w io.Writer, line string) (int, error) {
	return fmt.Fprintln(w, String(line))
}
