package spot

import (
	"errors"
	"math"
	"strings"
)

// proxyFields is the number of fields of a Bluecoat access log line.
const proxyFields = 27

// ParseProxy parses a line of a Bluecoat access log, 27 fields separated
// by blanks, a field in double quotes keeping its blanks (the quotes are
// removed, as Python's shlex does: a backslash outside quotes escapes the
// next character, inside them only " and \), in the log's order
//
//	date time time-taken c-ip cs-username cs-auth-group x-exception-id
//	sc-filter-result cs-categories cs(Referer) sc-status s-action cs-method
//	rs(Content-Type) cs-uri-scheme cs-host cs-uri-port cs-uri-path
//	cs-uri-query cs-uri-extension cs(User-Agent) s-ip sc-bytes cs-bytes
//	x-virus-id x-bluecoat-application-name x-bluecoat-application-operation
//
// into a proxy row (in the table's order) with fulluri added. The date and
// time must be "YYYY-MM-DD" and "hh:mm:ss" and give the partition;
// time-taken, sc-bytes and cs-bytes are unsigned decimals that fit an int;
// c-ip and s-ip are IP addresses. Comment lines (#Software, #Fields) are
// errors, as is any line that does not parse.
func ParseProxy(line string) (ProxyRow, error) {
	if strings.HasPrefix(line, "#") {
		return ProxyRow{}, rowLineError(Proxy, "a comment line")
	}
	var f [proxyFields]string
	n, err := splitShell(line, f[:])
	if err != nil {
		return ProxyRow{}, rowLineError(Proxy, "%v", err)
	}
	if n != proxyFields {
		return ProxyRow{}, rowLineError(Proxy, "%d fields, want %d", n, proxyFields)
	}
	c, ok := rowParseDate(f[0])
	if !ok {
		return ProxyRow{}, rowFieldError(Proxy, "p_date", f[0], `not a date "YYYY-MM-DD"`)
	}
	if !rowParseClock(f[1], &c) {
		return ProxyRow{}, rowFieldError(Proxy, "p_time", f[1], `not a time "hh:mm:ss"`)
	}
	p := rowParser{t: Proxy}
	r := ProxyRow{
		PDate:        f[0],
		PTime:        f[1],
		Duration:     p.int32("duration", f[2], 0, math.MaxInt32),
		ClientIP:     p.ip("clientip", f[3]),
		Username:     f[4],
		AuthGroup:    f[5],
		ExceptionID:  f[6],
		FilterResult: f[7],
		WebCat:       f[8],
		Referer:      f[9],
		RespCode:     p.nonEmpty("respcode", f[10]),
		Action:       f[11],
		ReqMethod:    p.nonEmpty("reqmethod", f[12]),
		ResContType:  f[13],
		URIScheme:    f[14],
		Host:         p.nonEmpty("host", f[15]),
		URIPort:      f[16],
		URIPath:      f[17],
		URIQuery:     f[18],
		URIExtension: f[19],
		UserAgent:    f[20],
		ServerIP:     p.ip("serverip", f[21]),
		SCBytes:      p.int32("scbytes", f[22], 0, math.MaxInt32),
		CSBytes:      p.int32("csbytes", f[23], 0, math.MaxInt32),
		VirusID:      f[24],
		BCAppName:    f[25],
		BCAppOper:    f[26],
		Y:            f[0][0:4],
		M:            f[0][5:7],
		D:            f[0][8:10],
		H:            f[1][0:2],
	}
	if p.err != nil {
		return ProxyRow{}, p.err
	}
	r.FullURI = fullURI(r.Host, r.URIPath, r.URIQuery)
	return r, nil
}

// fullURI is Spot's fulluri: host, path and query, leaving out a path or
// query of one character ("-", or a path of "/").
func fullURI(host, path, query string) string {
	if len(path) <= 1 {
		path = ""
	}
	if len(query) <= 1 {
		query = ""
	}
	if path == "" && query == "" {
		return host
	}
	return host + path + query
}

// splitShell splits line into blank-separated words as Python's
// shlex.split with '"' as the only quote does, filling out and returning
// how many words the line has (counting past len(out)). A word without
// quotes or backslashes is a substring of line.
func splitShell(line string, out []string) (int, error) {
	n := 0
	i := 0
	for {
		for i < len(line) && shellBlank(line[i]) {
			i++
		}
		if i == len(line) {
			return n, nil
		}
		start := i
		simple := true
		for i < len(line) && !shellBlank(line[i]) {
			if line[i] == '"' || line[i] == '\\' {
				simple = false
				break
			}
			i++
		}
		var word string
		if simple {
			word = line[start:i]
		} else {
			var err error
			word, i, err = shellWord(line, start)
			if err != nil {
				return n, err
			}
		}
		if n < len(out) {
			out[n] = word
		}
		n++
	}
}

func shellBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// shellWord reads the word starting at line[i] that holds quotes or
// backslashes, and returns it and where it ends.
func shellWord(line string, i int) (string, int, error) {
	var b strings.Builder
	for i < len(line) && !shellBlank(line[i]) {
		switch c := line[i]; c {
		case '\\':
			if i+1 == len(line) {
				return "", i, errors.New("no escaped character")
			}
			b.WriteByte(line[i+1])
			i += 2
		case '"':
			i++
			for {
				if i == len(line) {
					return "", i, errors.New("no closing quotation")
				}
				c := line[i]
				if c == '"' {
					i++
					break
				}
				if c == '\\' && i+1 < len(line) && (line[i+1] == '"' || line[i+1] == '\\') {
					b.WriteByte(line[i+1])
					i += 2
					continue
				}
				b.WriteByte(c)
				i++
			}
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), i, nil
}
