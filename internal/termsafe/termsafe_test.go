package termsafe

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestString(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "https://dex.example.com/dex", "https://dex.example.com/dex"},
		{"non-ASCII letters kept", "Jürgen 山田 café", "Jürgen 山田 café"},
		{"backslash kept", `C:\Users\me`, `C:\Users\me`},
		{"clear screen", "a\x1b[2Jb", `a\x1b[2Jb`},
		{"window title (OSC ... BEL)", "\x1b]0;pwned\x07", `\x1b]0;pwned\x07`},
		{"newline and carriage return", "line1\r\nline2", `line1\x0d\x0aline2`},
		{"tab", "a\tb", `a\x09b`},
		{"DEL", "a\x7fb", `a\x7fb`},
		{"C1 CSI", "a\u009b2Jb", `a\u009b2Jb`},
		{"right-to-left override", "admin\u202egpj.exe", `admin\u202egpj.exe`},
		{"zero-width space", "sys\u200btem:masters", `sys\u200btem:masters`},
		{"line separator", "a\u2028b", `a\u2028b`},
		{"invalid UTF-8", "a\xffb\xc3", `a\xffb\xc3`},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := String(tt.in); got != tt.want {
				t.Errorf("String(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzString(f *testing.F) {
	for _, s := range []string{"plain", "\x1b[31mred\x1b[0m", "\u202e", "\xff\xfe", "tab\there", "é\u200d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := String(in)
		if !utf8.ValidString(out) {
			t.Fatalf("String(%q) = %q is not UTF-8", in, out)
		}
		for _, r := range out {
			if unsafeRune(r) {
				t.Fatalf("String(%q) = %q keeps %U", in, out, r)
			}
		}
		if safeSlow(in) && out != in {
			t.Fatalf("String(%q) = %q changed a safe string", in, out)
		}
		if !strings.Contains(in, `\`) && String(out) != out {
			t.Fatalf("String is not idempotent on %q", in)
		}
	})
}
