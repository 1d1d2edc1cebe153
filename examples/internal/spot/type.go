package spot

import "fmt"

// Type is one of Spot's ingest pipelines.
type Type string

// The pipelines.
const (
	Flow  Type = "flow"  // netflow: nfcapd files converted with nfdump
	DNS   Type = "dns"   // DNS responses: pcaps converted with tshark
	Proxy Type = "proxy" // Bluecoat proxy logs, taken as they are
)

// Types lists the pipelines in the order the tools print them.
var Types = []Type{Flow, DNS, Proxy}

// ParseType returns the pipeline named s.
func ParseType(s string) (Type, error) {
	for _, t := range Types {
		if string(t) == s {
			return t, nil
		}
	}
	return "", fmt.Errorf("unknown type %q: want flow, dns or proxy", s)
}
