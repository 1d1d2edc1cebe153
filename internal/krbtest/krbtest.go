package krbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/internal/testtool"
)

// DefaultRealm is the realm Start creates unless WithRealm names another.
const DefaultRealm = "MICROBATCH.TEST"

// Defaults for ticket lifetimes, long enough for any test and short
// enough to look like a real deployment's.
const (
	DefaultTicketLifetime    = time.Hour
	DefaultRenewableLifetime = 2 * time.Hour
)

// How long a kadmin.local, kdb5_util or kinit run may take, and how long
// the KDC has to start answering or to stop.
const (
	commandTimeout = time.Minute
	startTimeout   = 30 * time.Second
	stopTimeout    = 10 * time.Second
	startAttempts  = 5
)

// Option changes how Start sets up a realm.
type Option func(*options)

type options struct {
	realm string
	life  time.Duration
	renew time.Duration
	pac   bool
}

// WithRealm names the realm (DefaultRealm otherwise). Two realms running
// at once may have the same name: each has its own KDC and krb5.conf.
func WithRealm(name string) Option { return func(o *options) { o.realm = name } }

// WithTicketLifetime sets the longest life of a ticket the KDC issues
// (max_life in kdc.conf, ticket_lifetime in krb5.conf), in whole seconds,
// at least one. MIT enforces no minimum: a few seconds give a test
// tickets and ticket caches that expire while it runs.
func WithTicketLifetime(d time.Duration) Option { return func(o *options) { o.life = d } }

// WithRenewableLifetime sets how long a ticket may be renewed
// (max_renewable_life in kdc.conf, renew_lifetime in krb5.conf), in whole
// seconds, at least one.
func WithRenewableLifetime(d time.Duration) Option { return func(o *options) { o.renew = d } }

// WithPAC makes the KDC put a PAC (authorization data naming the client)
// in its tickets, as MIT 1.20 does by default. Start turns PACs off
// otherwise (disable_pac = true), so that tickets look like those of the
// MIT releases before 1.20: gokrb5's service.VerifyAPREQ rejects an MIT
// PAC, which lacks the Windows logon information it requires ("PAC Info
// Buffers does not contain a KerbValidationInfo"), unless the service's
// settings include service.DecodePAC(false).
func WithPAC() Option { return func(o *options) { o.pac = true } }

// Realm is a running throwaway realm: its KDC, database and configuration
// files, all in a temporary directory of the test that started it. Its
// methods that take no testing.TB fail that test; call them from its
// goroutine.
type Realm struct {
	t        testing.TB
	name     string
	dir      string
	krb5Conf string
	kdcConf  string
	port     int
	opts     options
	tools    tools
	env      []string // the KRB5_* variables of every program run for the realm

	kdc      *process
	stopOnce sync.Once
}

// process is the running KDC.
type process struct {
	cmd    *exec.Cmd
	output *testtool.Buffer // its standard output and error
	done   chan struct{}    // closed when it has exited; err is set then
	err    error
}

// Start creates a realm in a temporary directory of t, starts its KDC on
// 127.0.0.1 and returns once the KDC answers. The KDC is stopped when t
// ends, and its log printed if t failed. It skips t when the MIT Kerberos
// programs are missing (fails it under CI=true).
func Start(t testing.TB, opts ...Option) *Realm {
	t.Helper()
	o := options{realm: DefaultRealm, life: DefaultTicketLifetime, renew: DefaultRenewableLifetime}
	for _, opt := range opts {
		opt(&o)
	}
	if o.realm == "" || strings.ContainsAny(o.realm, " \t\r\n{}=\"'@/#;[]") {
		t.Fatalf("krbtest: realm name %q: want a non-empty name without spaces or any of {}=\"'@/#;[]", o.realm)
	}
	if o.life < time.Second || o.renew < time.Second {
		t.Fatalf("krbtest: ticket lifetime %v, renewable lifetime %v: want at least one second each", o.life, o.renew)
	}
	r := &Realm{t: t, name: o.realm, opts: o, tools: findTools(t), dir: t.TempDir()}
	r.krb5Conf = filepath.Join(r.dir, "krb5.conf")
	r.kdcConf = filepath.Join(r.dir, "kdc.conf")
	r.env = []string{
		"KRB5_CONFIG=" + r.krb5Conf,
		"KRB5_KDC_PROFILE=" + r.kdcConf,
		"KRB5CCNAME=FILE:" + filepath.Join(r.dir, "default.ccache"),
		"KRB5_KTNAME=FILE:" + filepath.Join(r.dir, "default.keytab"),
		"KRB5_CLIENT_KTNAME=FILE:" + filepath.Join(r.dir, "default-client.keytab"),
		"KRB5RCACHEDIR=" + r.dir,
	}
	if err := os.WriteFile(filepath.Join(r.dir, "kadm5.acl"), nil, 0o600); err != nil {
		t.Fatalf("krbtest: %v", err)
	}

	res, err := reservePort()
	if err != nil {
		t.Fatalf("krbtest: reserving a loopback port for the KDC: %v", err)
	}
	defer func() { res.release() }()
	r.port = res.port
	if err := r.writeConfig(); err != nil {
		t.Fatalf("krbtest: %v", err)
	}
	master, err := randomPassword()
	if err != nil {
		t.Fatalf("krbtest: %v", err)
	}
	if out, err := r.run("", r.tools.kdb5util, "-r", r.name, "create", "-s", "-P", master); err != nil {
		t.Fatalf("krbtest: creating the KDC database: %v\n%s", err, out)
	}

	for attempt := 1; ; attempt++ {
		logged := len(r.kdcLog()) // what earlier attempts logged
		kdc, err := r.startKDC()
		if err != nil {
			t.Fatalf("krbtest: %v", err)
		}
		err = r.waitKDC(kdc)
		if err == nil {
			r.kdc = kdc
			break
		}
		log := r.kdcLog()
		if len(log) >= logged {
			log = log[logged:]
		}
		log += kdc.output.String()
		if !strings.Contains(log, "Address already in use") || attempt == startAttempts {
			stopProcess(kdc)
			t.Fatalf("krbtest: starting krb5kdc for %s (attempt %d): %v\nKDC log:\n%s", r.name, attempt, err, log)
		}
		// Another program took the port between our reservation and the
		// KDC's bind (possible only where reservePort cannot hold it for
		// the KDC): start again on another one.
		t.Logf("krbtest: port %d was taken before krb5kdc bound it; starting it on another", r.port)
		stopProcess(kdc)
		res.release()
		if res, err = reservePort(); err != nil {
			t.Fatalf("krbtest: reserving a loopback port for the KDC: %v", err)
		}
		r.port = res.port
		if err := r.writeConfig(); err != nil {
			t.Fatalf("krbtest: %v", err)
		}
	}
	t.Cleanup(func() {
		stoppedByUs := r.stop()
		if !stoppedByUs {
			t.Errorf("krbtest: krb5kdc of %s exited during the test: %v\nKDC log:\n%s", r.name, r.kdc.err, r.Log())
		} else if t.Failed() {
			t.Logf("krbtest: KDC log of %s (%s):\n%s", r.name, r.KDCAddr(), r.Log())
		}
	})
	res.release()

	// The KDC accepts TCP connections; check that it is ours and speaks
	// Kerberos: an AS request for a principal that does not exist must be
	// refused by this realm's database.
	if err := r.probe(); err != nil {
		t.Fatalf("krbtest: the KDC of %s at %s does not answer as expected: %v\nKDC log:\n%s", r.name, r.KDCAddr(), err, r.Log())
	}
	return r
}

// Realm returns the realm's name, like "MICROBATCH.TEST".
func (r *Realm) Realm() string { return r.name }

// KDCAddr returns the KDC's address, "127.0.0.1:port", on which it
// answers both UDP and TCP.
func (r *Realm) KDCAddr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port))
}

// Krb5Conf returns the path of the realm's krb5.conf, for KRB5_CONFIG, a
// JVM's java.security.krb5.conf or config.Load.
func (r *Realm) Krb5Conf() string { return r.krb5Conf }

// Dir returns the realm's temporary directory, which holds its
// configuration, database, stash, logs and the keytabs Keytab names.
func (r *Realm) Dir() string { return r.dir }

// Env returns the environment variables that point the MIT Kerberos
// library at this realm (KRB5_CONFIG and KRB5_KDC_PROFILE) and keep it
// away from the machine's defaults (KRB5CCNAME, KRB5_KTNAME,
// KRB5_CLIENT_KTNAME, KRB5RCACHEDIR, all inside Dir). Append them after
// os.Environ() for a command a test runs: exec.Cmd uses the last value of
// a duplicated variable.
func (r *Realm) Env() []string { return slices.Clone(r.env) }

// Log returns what the KDC has logged so far: its log file and its
// standard output and error.
func (r *Realm) Log() string {
	s := r.kdcLog()
	if r.kdc != nil {
		s += r.kdc.output.String()
	}
	return s
}

// Stop stops the KDC (Cleanup does it when the test ends; calling it
// again does nothing). Tickets already issued stay valid: a test can
// check what works without a KDC.
func (r *Realm) Stop() { r.stop() }

// stop stops the KDC once and reports whether it was still running.
func (r *Realm) stop() bool {
	running := true
	r.stopOnce.Do(func() {
		select {
		case <-r.kdc.done:
			running = false
		default:
			stopProcess(r.kdc)
		}
	})
	return running
}

func (r *Realm) kdcLog() string {
	b, err := os.ReadFile(filepath.Join(r.dir, "kdc.log"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Sprintf("(reading kdc.log: %v)\n", err)
	}
	return string(b)
}

// writeConfig writes krb5.conf and kdc.conf for r.port.
func (r *Realm) writeConfig() error {
	life := durationSeconds(r.opts.life)
	renew := durationSeconds(r.opts.renew)
	addr := r.KDCAddr()
	// krb5.conf: the clients' view. No DNS at all (the realm and KDC are
	// named here, host names are used as written), TCP first so that
	// large tickets (a PAC, many enctypes) are never truncated over UDP,
	// and the default caches and keytabs inside the realm's directory.
	krb5 := fmt.Sprintf(`[libdefaults]
	default_realm = %[1]s
	dns_lookup_kdc = false
	dns_lookup_realm = false
	dns_canonicalize_hostname = false
	rdns = false
	udp_preference_limit = 1
	ticket_lifetime = %[3]s
	renew_lifetime = %[4]s
	default_ccache_name = FILE:%[5]s
	default_keytab_name = FILE:%[6]s
	default_client_keytab_name = FILE:%[7]s

[realms]
	%[1]s = {
		kdc = %[2]s
	}

[domain_realm]
	127.0.0.1 = %[1]s
	localhost = %[1]s
`, r.name, addr, life, renew,
		filepath.Join(r.dir, "default.ccache"),
		filepath.Join(r.dir, "default.keytab"),
		filepath.Join(r.dir, "default-client.keytab"))

	// kdc.conf: the KDC's and kadmin.local's view. Loopback only; keys
	// only in the AES-SHA1 types every client in the tests knows (gokrb5,
	// MIT, Java); preauthentication required of every principal, as in
	// real realms, so that a wrong password is refused by the KDC
	// (PREAUTH_FAILED) rather than discovered by the client; SPAKE off,
	// which needs groups configured and would only log an error.
	pac := "true"
	if r.opts.pac {
		pac = "false"
	}
	kdc := fmt.Sprintf(`[kdcdefaults]
	kdc_listen = %[2]s
	kdc_tcp_listen = %[2]s

[realms]
	%[1]s = {
		database_name = %[5]s
		key_stash_file = %[6]s
		acl_file = %[7]s
		max_life = %[3]s
		max_renewable_life = %[4]s
		master_key_type = aes256-cts-hmac-sha1-96
		supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
		default_principal_flags = +preauth
		disable_pac = %[8]s
	}

[dbmodules]
	%[1]s = {
		db_library = db2
		database_name = %[5]s
	}

[plugins]
	kdcpreauth = {
		disable = spake
	}

[logging]
	kdc = FILE:%[9]s
	admin_server = FILE:%[10]s
	default = FILE:%[11]s
`, r.name, addr, life, renew,
		filepath.Join(r.dir, "principal"),
		filepath.Join(r.dir, "stash"),
		filepath.Join(r.dir, "kadm5.acl"),
		pac,
		filepath.Join(r.dir, "kdc.log"),
		filepath.Join(r.dir, "kadmin.log"),
		filepath.Join(r.dir, "krb5lib.log"))

	if err := os.WriteFile(r.krb5Conf, []byte(krb5), 0o600); err != nil {
		return fmt.Errorf("writing krb5.conf: %w", err)
	}
	if err := os.WriteFile(r.kdcConf, []byte(kdc), 0o600); err != nil {
		return fmt.Errorf("writing kdc.conf: %w", err)
	}
	return nil
}

// durationSeconds formats d, rounded up to whole seconds, as both MIT
// and gokrb5 read a duration: "90s".
func durationSeconds(d time.Duration) string {
	s := (d + time.Second - 1) / time.Second
	return strconv.FormatInt(int64(s), 10) + "s"
}

// startKDC starts krb5kdc in the foreground.
func (r *Realm) startKDC() (*process, error) {
	p := &process{output: &testtool.Buffer{}, done: make(chan struct{})}
	// -n: do not fork; -r: serve this realm (the profile names only it).
	p.cmd = exec.Command(r.tools.kdc, "-n", "-r", r.name)
	p.cmd.Dir = r.dir
	p.cmd.Env = r.cmdEnv()
	p.cmd.Stdout = p.output
	p.cmd.Stderr = p.output
	setProcAttr(p.cmd)
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", r.tools.kdc, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// waitKDC waits until the KDC accepts TCP connections on its port, or
// has exited.
func (r *Realm) waitKDC(p *process) error {
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-p.done:
			return fmt.Errorf("krb5kdc exited: %w", p.err)
		default:
		}
		c, err := net.DialTimeout("tcp", r.KDCAddr(), time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("krb5kdc does not accept connections on %s after %v: %w", r.KDCAddr(), startTimeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stopProcess ends the KDC with SIGTERM, then SIGKILL if it lingers.
func stopProcess(p *process) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// cmdEnv is the environment of a program run for the realm: the test's,
// without any KRB5* variable of its own, plus the realm's and extra.
func (r *Realm) cmdEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KRB5") {
			env = append(env, kv)
		}
	}
	env = append(env, r.env...)
	return append(env, extra...)
}

// run runs a program of the realm with stdin as its input and returns its
// standard output and error, combined.
func (r *Realm) run(stdin, prog string, args ...string) (string, error) {
	stdout, stderr, err := r.run2(stdin, nil, prog, args...)
	return stdout + stderr, err
}

// run2 runs a program of the realm with stdin as its input, extra in its
// environment, and returns its standard output and error apart.
func (r *Realm) run2(stdin string, extra []string, prog string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Dir = r.dir
	cmd.Env = r.cmdEnv(extra...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut strings.Builder
	cmd.Stdout = &out
	cmd.Stderr = &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), errOut.String(), fmt.Errorf("%s %s: %w", filepath.Base(prog), strings.Join(redact(args), " "), err)
	}
	return out.String(), errOut.String(), nil
}

// redact hides the value after -P or -pw in a command line shown in an
// error.
func redact(args []string) []string {
	out := slices.Clone(args)
	for i := 1; i < len(out); i++ {
		if out[i-1] == "-P" || out[i-1] == "-pw" {
			out[i] = "***"
		}
	}
	return out
}

// randomPassword returns 32 random hex digits.
func randomPassword() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random password: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// tools are the paths of the MIT programs a realm runs.
type tools struct {
	kdc, kdb5util, kadmin, kinit, klist string
}

const installHint = "Debian: apt-get install krb5-kdc krb5-admin-server krb5-user, as scripts/test.sh does"

// findTools finds the MIT programs, skipping t (failing it under CI=true)
// when one is missing.
func findTools(t testing.TB) tools {
	t.Helper()
	return tools{
		kdc:      findTool(t, "krb5kdc"),
		kdb5util: findTool(t, "kdb5_util"),
		kadmin:   findTool(t, "kadmin.local"),
		kinit:    findTool(t, "kinit"),
		klist:    findTool(t, "klist"),
	}
}

// findTool looks for name on PATH, then in the sbin directories, which a
// user other than root often lacks on PATH. testtool.Require reports a
// program found in neither.
func findTool(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	dirs := []string{"/usr/sbin", "/usr/local/sbin", "/sbin"}
	if v, ok := os.LookupEnv("KRBTEST_SBIN_DIRS"); ok {
		dirs = filepath.SplitList(v)
	}
	for _, d := range dirs {
		if d == "" {
			continue
		}
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return testtool.Require(t, name, installHint)
}
