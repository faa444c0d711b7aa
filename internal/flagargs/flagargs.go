// Package flagargs turns the flags a person set back into command-line
// arguments, so that a command can write them into an exec stanza or a
// message.
package flagargs

import (
	"encoding/csv"
	"strings"

	"github.com/spf13/pflag"
)

// Changed returns --name=value for every flag the person set, in
// flag-name order; list flags give one argument per element, map flags one
// argument with all pairs.
func Changed(fs *pflag.FlagSet) []string {
	var args []string
	// VisitAll (sorted by name) with Changed, not Visit: the flags were
	// parsed through the command's flag set, which marks them Changed but
	// does not record them as set in this one.
	fs.VisitAll(func(fl *pflag.Flag) {
		if !fl.Changed {
			return
		}
		name := "--" + fl.Name
		switch v := fl.Value.(type) {
		case pflag.SliceValue:
			for _, s := range v.GetSlice() {
				if fl.Value.Type() == "stringSlice" && strings.ContainsAny(s, ",\"") {
					s = CSVQuote(s)
				}
				args = append(args, name+"="+s)
			}
		default:
			s := fl.Value.String()
			switch fl.Value.Type() {
			case "bool":
				if s == "true" {
					args = append(args, name)
				} else {
					args = append(args, name+"=false")
				}
				return
			case "stringToString":
				s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
			}
			args = append(args, name+"="+s)
		}
	})
	return args
}

// CSVQuote quotes s as one CSV field, as pflag's string slices read them.
func CSVQuote(s string) string {
	var b strings.Builder
	w := csv.NewWriter(&b)
	_ = w.Write([]string{s})
	w.Flush()
	return strings.TrimSuffix(b.String(), "\n")
}
