package hdfs

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// ErrKerberosRequired is the cause of the errors of a client without
// Kerberos (SIMPLE authentication) on a cluster that requires Kerberos.
var ErrKerberosRequired = errors.New("the cluster requires Kerberos; give -principal and -keytab (or a ticket cache)")

// ErrKerberosLogin is the cause of the errors of a Kerberos client that
// cannot get its tickets, or whose authentication the NameNode refuses.
var ErrKerberosLogin = errors.New("kerberos authentication failed")

// probeTimeout bounds the diagnosis of a refused SIMPLE client.
const probeTimeout = 3 * time.Second

// errUnexpectedSequence is the text of the colinmarc client's error when
// an answer is not for the call it made: how a Kerberized NameNode's
// refusal of SIMPLE authentication (sent on call id -33) reaches it.
const errUnexpectedSequence = "unexpected sequence number"

// refusalSymptoms are the texts of the errors in which a Kerberized
// NameNode's refusal of a SIMPLE client reaches the client: the answer
// for the wrong call (errUnexpectedSequence) or, when the NameNode closed
// the connection before reading all the client sent, a reset connection.
var refusalSymptoms = []string{errUnexpectedSequence, "broken pipe", "connection reset by peer"}

// simpleRefusal diagnoses an error of a SIMPLE client: when err is one of
// refusalSymptoms, it connects to the NameNodes again, as SIMPLE, and
// returns an error wrapping ErrKerberosRequired naming the first one that
// refuses SIMPLE authentication. It returns nil when that is not the
// cause.
func simpleRefusal(addrs []string, err error) error {
	if err == nil || !slices.ContainsFunc(refusalSymptoms, func(s string) bool { return strings.Contains(err.Error(), s) }) {
		return nil
	}
	for _, a := range addrs {
		if refusesSimple(a) {
			return fmt.Errorf("storage/hdfs: %s refused SIMPLE authentication: %w", a, ErrKerberosRequired)
		}
	}
	return nil
}

// refusesSimple connects to the NameNode at addr with SIMPLE
// authentication and reports whether it answers with Hadoop's refusal:
// a FATAL AccessControlException "SIMPLE authentication is not enabled".
func refusesSimple(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, probeTimeout)
	if err != nil {
		return false
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(probeTimeout))
	// "hrpc", version 9, service class 0, auth protocol 0 (none).
	if _, err := conn.Write([]byte{'h', 'r', 'p', 'c', 9, 0, 0}); err != nil {
		return false
	}
	class, msg, ok := readRefusal(bufio.NewReader(conn))
	return ok && class == "org.apache.hadoop.security.AccessControlException" &&
		strings.Contains(msg, "SIMPLE authentication is not enabled")
}

// readRefusal reads one response frame and returns the exception class
// and message of its RpcResponseHeaderProto when its status is FATAL.
func readRefusal(r io.Reader) (class, msg string, ok bool) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return "", "", false
	}
	size := binary.BigEndian.Uint32(n[:])
	if size > 1<<20 {
		return "", "", false
	}
	frame := make([]byte, size)
	if _, err := io.ReadFull(r, frame); err != nil {
		return "", "", false
	}
	hlen, k := protowire.ConsumeVarint(frame)
	if k < 0 || uint64(len(frame)-k) < hlen {
		return "", "", false
	}
	hdr := frame[k : k+int(hlen)]
	fatal := false
	for len(hdr) > 0 {
		num, typ, k := protowire.ConsumeTag(hdr)
		if k < 0 {
			return "", "", false
		}
		hdr = hdr[k:]
		switch {
		case num == 2 && typ == protowire.VarintType: // status
			v, k := protowire.ConsumeVarint(hdr)
			if k < 0 {
				return "", "", false
			}
			fatal = v == 2
			hdr = hdr[k:]
		case (num == 4 || num == 5) && typ == protowire.BytesType: // exceptionClassName, errorMsg
			v, k := protowire.ConsumeBytes(hdr)
			if k < 0 {
				return "", "", false
			}
			if num == 4 {
				class = string(v)
			} else {
				msg = string(v)
			}
			hdr = hdr[k:]
		default:
			k := protowire.ConsumeFieldValue(num, typ, hdr)
			if k < 0 {
				return "", "", false
			}
			hdr = hdr[k:]
		}
	}
	return class, msg, fatal
}

// krbErrorCode finds the name of a Kerberos error code in a gokrb5 error.
var krbErrorCode = regexp.MustCompile(`KRB Error: \(\d+\) ([A-Z0-9_]+)`)

// kerberosError turns the error of a Kerberos client's connection to the
// NameNodes into one line naming the principal, the NameNodes and the
// cause, wrapping ErrKerberosLogin. The client's messages are gokrb5's,
// flattened to strings by the client, so the cause is recognized by text.
func kerberosError(principal string, addrs []string, err error) error {
	s := err.Error()
	var cause string
	code := ""
	if m := krbErrorCode.FindStringSubmatch(s); m != nil {
		code = m[1]
	}
	switch {
	case code == "KDC_ERR_PREAUTH_FAILED":
		cause = "the KDC refused the key (KDC_ERR_PREAUTH_FAILED): the keytab does not hold the principal's current key"
	case code == "KDC_ERR_C_PRINCIPAL_UNKNOWN":
		cause = "the KDC does not know the principal (KDC_ERR_C_PRINCIPAL_UNKNOWN)"
	case code == "KDC_ERR_S_PRINCIPAL_UNKNOWN":
		cause = "the KDC does not know the NameNode's service principal (KDC_ERR_S_PRINCIPAL_UNKNOWN)"
	case code != "":
		cause = "the KDC answered " + code
	case strings.Contains(s, "expired"):
		cause = "the ticket has expired: run kinit again, or give -keytab"
	case strings.Contains(s, "Networking_Error") || strings.Contains(s, "no KDC") || strings.Contains(s, "could not get KDC"):
		cause = "no KDC of the principal's realm answers (check the realm and krb5.conf)"
	case strings.Contains(s, "FATAL_UNAUTHORIZED"):
		cause = "the NameNode refused the Kerberos authentication (FATAL_UNAUTHORIZED)"
	case strings.Contains(s, "kerberos authentication not supported"):
		cause = "the NameNode does not offer Kerberos"
	default:
		cause = strings.Join(strings.Fields(s), " ")
	}
	return fmt.Errorf("storage/hdfs: hdfs %s as %s: %w: %s", strings.Join(addrs, ","), principal, ErrKerberosLogin, cause)
}
