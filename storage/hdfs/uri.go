package hdfs

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	gohdfs "github.com/colinmarc/hdfs/v2"
	"github.com/colinmarc/hdfs/v2/hadoopconf"
	krbclient "github.com/jcmturner/gokrb5/v8/client"
	"github.com/microbatch-go/microbatch/storage"
)

func init() {
	storage.RegisterOpener("hdfs", openURL)
}

// cache holds the FS of each distinct URI setting that storage.Open has
// opened, so that every Open of a cluster shares one client.
var cache struct {
	sync.Mutex
	fs map[string]*FS
}

// DefaultServicePrincipal is the NameNode's service principal that a
// Kerberos client asks tickets for when the storage.Opener names none;
// the client replaces _HOST by the host of the NameNode's address.
const DefaultServicePrincipal = "nn/_HOST"

// openURL is the storage driver: the FS for an hdfs:// URI, with the
// Opener's Kerberos client when it has one.
func openURL(u *url.URL, o *storage.Opener) (storage.FS, error) {
	opts, err := OptionsFromURL(u)
	if err != nil {
		return nil, err
	}
	principal := ""
	if o.Kerberos != nil {
		cl, ok := o.Kerberos.(*krbclient.Client)
		if !ok || cl == nil || cl.Credentials == nil {
			return nil, fmt.Errorf("storage/hdfs: the Opener's Kerberos is a %T, not a logged-in *client.Client of gokrb5", o.Kerberos)
		}
		principal = cl.Credentials.UserName() + "@" + cl.Credentials.Realm()
		opts.Client.KerberosClient = cl
		opts.Client.KerberosServicePrincipleName = o.KerberosServicePrincipal
		if opts.Client.KerberosServicePrincipleName == "" {
			opts.Client.KerberosServicePrincipleName = DefaultServicePrincipal
		}
	}
	if _, err := opts.withDefaults(); err != nil {
		return nil, err
	}
	// With Kerberos the principal is the user; the key holds it and the
	// client itself, so that no FS logged in as one identity is shared
	// with an Opener of another.
	key := fmt.Sprintf("%q %q %d %d %v", opts.Client.Addresses, opts.Client.User,
		opts.Replication, opts.BlockSize, opts.CloseTimeout)
	if principal != "" {
		key += fmt.Sprintf(" krb %q %q %p", principal, opts.Client.KerberosServicePrincipleName, opts.Client.KerberosClient)
	}
	f, err := cachedOpen(opts, key)
	if err != nil {
		// The URI is good but no NameNode answers now: the FS connects
		// on first use, so that the job's start-up checks, not the
		// building of its graph, report the outage.
		return &lazyFS{opts: opts, key: key, err: err}, nil
	}
	return f, nil
}

// cachedOpen returns the shared FS of key, connecting it if needed.
func cachedOpen(opts Options, key string) (*FS, error) {
	cache.Lock()
	defer cache.Unlock()
	if f := cache.fs[key]; f != nil {
		return f, nil
	}
	f, err := Open(opts)
	if err != nil {
		return nil, err
	}
	f.cacheKey = key
	if cache.fs == nil {
		cache.fs = map[string]*FS{}
	}
	cache.fs[key] = f
	return f, nil
}

var uriParams = []string{"blocksize", "closetimeout", "replication", "user"}

// OptionsFromURL returns the Options an hdfs URI describes (see the
// package documentation): the NameNode addresses from its authority (or
// from the Hadoop configuration when it has none), the user, and the
// settings in its query. Its path is not part of the options.
func OptionsFromURL(u *url.URL) (Options, error) {
	var o Options
	if !strings.EqualFold(u.Scheme, "hdfs") {
		return o, fmt.Errorf("storage/hdfs: scheme %q is not hdfs", u.Scheme)
	}
	q := u.Query()
	for k := range q {
		if !slices.Contains(uriParams, k) {
			return o, fmt.Errorf("storage/hdfs: unknown URI parameter %q (known: %s)", k, strings.Join(uriParams, ", "))
		}
	}
	if u.Host == "" {
		conf, err := hadoopconf.LoadFromEnvironment()
		if err != nil {
			return o, fmt.Errorf("storage/hdfs: loading the Hadoop configuration: %w", err)
		}
		copts := gohdfs.ClientOptionsFromConf(conf)
		if len(copts.Addresses) == 0 {
			return o, errors.New("storage/hdfs: the URI names no NameNode and the Hadoop configuration " +
				"($HADOOP_CONF_DIR) lists none")
		}
		if copts.KerberosClient != nil {
			return o, errors.New("storage/hdfs: the Hadoop configuration asks for Kerberos, which a URI cannot " +
				"configure: call storage/hdfs.Open with a logged-in KerberosClient")
		}
		o.Client = copts
	} else {
		for _, a := range strings.Split(u.Host, ",") {
			if a == "" {
				return o, fmt.Errorf("storage/hdfs: empty NameNode address in %q", u.Host)
			}
			if _, _, err := net.SplitHostPort(a); err != nil {
				a = net.JoinHostPort(strings.Trim(a, "[]"), DefaultPort)
			}
			o.Client.Addresses = append(o.Client.Addresses, a)
		}
	}
	o.Client.User = u.User.Username()
	if v := q.Get("user"); v != "" {
		if o.Client.User != "" && o.Client.User != v {
			return o, fmt.Errorf("storage/hdfs: the URI names two users, %q and %q", o.Client.User, v)
		}
		o.Client.User = v
	}
	if o.Client.User == "" {
		var err error
		if o.Client.User, err = DefaultUser(); err != nil {
			return o, err
		}
	}
	if v := q.Get("replication"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return o, fmt.Errorf("storage/hdfs: replication=%q is not a positive integer", v)
		}
		o.Replication = n
	}
	if v := q.Get("blocksize"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return o, fmt.Errorf("storage/hdfs: blocksize=%q is not a positive number of bytes", v)
		}
		o.BlockSize = n
	}
	if v := q.Get("closetimeout"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return o, fmt.Errorf("storage/hdfs: closetimeout=%q is not a duration", v)
		}
		o.CloseTimeout = d
	}
	return o, nil
}
