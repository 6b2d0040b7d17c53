package kernel

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"hash"
	"math/big"
	"slices"
	"testing"
	"time"
)

// testPE describes a small PE image for the Authenticode tests.
type testPE struct {
	pe32 bool // PE32 instead of PE32+
	// sections are the raw sizes of the sections, laid out in this order
	// after the headers; reversed lists them in the section table in the
	// opposite order.
	sections []int
	reversed bool
	// trailing bytes follow the sections, before the certificate table.
	trailing int
	unsigned bool
	// What the signature says.
	digestOID asn1.ObjectIdentifier // sha256 when nil
	newHash   func() hash.Hash
	// contentOID replaces SpcIndirectDataContent's OID when set.
	contentOID asn1.ObjectIdentifier
	// revision and certType of the first WIN_CERTIFICATE (0x0200, 2 when 0).
	revision, certType uint16
	// extraEntry adds a second WIN_CERTIFICATE.
	extraEntry bool
	// digestLen cuts the embedded digest when > 0.
	digestLen int
}

const (
	testHeaders = 0x400
	testSigner  = "kexec-upgrade test signer"
)

// buildPE lays out the image, computes its Authenticode digest the plain
// way (the file up to the certificate table without the CheckSum and the
// certificate table entry: equal to the section-wise hash when the
// sections follow one another in file order, as here), and signs it with
// a PKCS#7 SignedData whose signature bytes are not a real signature (the
// check does not verify them).
func buildPE(t testing.TB, o testPE) []byte {
	t.Helper()
	optSize, numRVAOff, dirOff, magic := 240, 108, 112, uint16(0x20B)
	if o.pe32 {
		optSize, numRVAOff, dirOff, magic = 224, 92, 96, 0x10B
	}
	data := make([]byte, testHeaders)
	copy(data, "MZ")
	binary.LittleEndian.PutUint32(data[0x3C:], 0x80)
	p := 0x80
	copy(data[p:], "PE\x00\x00")
	binary.LittleEndian.PutUint16(data[p+4:], 0x8664)
	binary.LittleEndian.PutUint16(data[p+6:], uint16(len(o.sections)))
	binary.LittleEndian.PutUint32(data[p+8:], 0x5EED)
	binary.LittleEndian.PutUint16(data[p+20:], uint16(optSize))
	opt := p + 24
	binary.LittleEndian.PutUint16(data[opt:], magic)
	binary.LittleEndian.PutUint32(data[opt+60:], testHeaders)
	binary.LittleEndian.PutUint32(data[opt+64:], 0xC0FFEE) // a CheckSum
	binary.LittleEndian.PutUint32(data[opt+numRVAOff:], 16)
	table := opt + optSize
	raw := testHeaders
	for i, size := range o.sections {
		slot := i
		if o.reversed {
			slot = len(o.sections) - 1 - i
		}
		s := table + slot*40
		copy(data[s:], []byte{'.', 's', byte('a' + i)})
		binary.LittleEndian.PutUint32(data[s+8:], uint32(size))
		binary.LittleEndian.PutUint32(data[s+12:], uint32(0x1000*(i+1)))
		binary.LittleEndian.PutUint32(data[s+16:], uint32(size))
		binary.LittleEndian.PutUint32(data[s+20:], uint32(raw))
		raw += size
	}
	for i := len(data); i < raw+o.trailing; i++ {
		data = append(data, byte(i*7+i>>8))
	}
	if o.unsigned {
		return data
	}
	for len(data)%8 != 0 { // sbsign pads the image before the table
		data = append(data, 0)
	}
	certDir := opt + dirOff + 4*8
	newHash := o.newHash
	if newHash == nil {
		newHash = sha256.New
	}
	h := newHash()
	h.Write(data[:opt+64])
	h.Write(data[opt+68 : certDir])
	h.Write(data[certDir+8:])
	digest := h.Sum(nil)
	if o.digestLen > 0 {
		digest = digest[:o.digestLen]
	}
	sig := testPKCS7(t, o, digest)
	rev, typ := o.revision, o.certType
	if rev == 0 {
		rev = 0x0200
	}
	if typ == 0 {
		typ = 2
	}
	certOff := len(data)
	data = appendWinCert(data, rev, typ, sig)
	if o.extraEntry {
		data = appendWinCert(data, 0x0200, 2, sig)
	}
	binary.LittleEndian.PutUint32(data[certDir:], uint32(certOff))
	binary.LittleEndian.PutUint32(data[certDir+4:], uint32(len(data)-certOff))
	return data
}

// appendWinCert appends a WIN_CERTIFICATE padded to 8 bytes, as sbsign does.
func appendWinCert(data []byte, revision, certType uint16, body []byte) []byte {
	var hdr [8]byte
	binary.LittleEndian.PutUint32(hdr[:], uint32(8+len(body)))
	binary.LittleEndian.PutUint16(hdr[4:], revision)
	binary.LittleEndian.PutUint16(hdr[6:], certType)
	data = append(data, hdr[:]...)
	data = append(data, body...)
	for len(data)%8 != 0 {
		data = append(data, 0)
	}
	return data
}

type testAlgID struct {
	Algorithm asn1.ObjectIdentifier
	Params    asn1.RawValue `asn1:"optional"`
}

type testDigestInfo struct {
	Alg    testAlgID
	Digest []byte
}

type testSpcAttr struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue `asn1:"optional"`
}

type testSpcIndirect struct {
	Data   testSpcAttr
	Digest testDigestInfo
}

type testContentInfo struct {
	Type    asn1.ObjectIdentifier
	Content asn1.RawValue
}

type testIssuerSerial struct {
	Issuer asn1.RawValue
	Serial *big.Int
}

type testSignerInfo struct {
	Version      int
	IssuerSerial testIssuerSerial
	DigestAlg    testAlgID
	SigAlg       testAlgID
	Signature    []byte
}

type testSignedData struct {
	Version     int
	DigestAlgs  []testAlgID `asn1:"set"`
	Content     testContentInfo
	Certs       asn1.RawValue
	SignerInfos []testSignerInfo `asn1:"set"`
}

// testCert is a certificate made from a fixed key, so every run builds the
// same bytes.
func testCert(t testing.TB) *x509.Certificate {
	t.Helper()
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(0x4B55),
		Subject:      pkix.Name{CommonName: testSigner},
		NotBefore:    time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2036, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	der, err := x509.CreateCertificate(nil, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func explicit0(t testing.TB, v any) asn1.RawValue {
	t.Helper()
	der, err := asn1.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: der}
}

func testPKCS7(t testing.TB, o testPE, digest []byte) []byte {
	t.Helper()
	alg := o.digestOID
	if alg == nil {
		alg = oidDigestSHA256
	}
	content := o.contentOID
	if content == nil {
		content = oidSpcIndirectData
	}
	cert := testCert(t)
	spc := testSpcIndirect{
		Data:   testSpcAttr{Type: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 1, 15}},
		Digest: testDigestInfo{Alg: testAlgID{Algorithm: alg}, Digest: digest},
	}
	sd := testSignedData{
		Version:    1,
		DigestAlgs: []testAlgID{{Algorithm: alg}},
		Content:    testContentInfo{Type: content, Content: explicit0(t, spc)},
		Certs:      asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: cert.Raw},
		SignerInfos: []testSignerInfo{{
			Version:      1,
			IssuerSerial: testIssuerSerial{Issuer: asn1.RawValue{FullBytes: cert.RawIssuer}, Serial: cert.SerialNumber},
			DigestAlg:    testAlgID{Algorithm: alg},
			SigAlg:       testAlgID{Algorithm: asn1.ObjectIdentifier{1, 3, 101, 112}},
			Signature:    bytes.Repeat([]byte{0x5A}, 64),
		}},
	}
	der, err := asn1.Marshal(testContentInfo{Type: oidSignedData, Content: explicit0(t, sd)})
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// certTableAt returns where the test image's certificate table starts.
func certTableAt(t testing.TB, data []byte) int {
	t.Helper()
	l, signed, err := parsePESignLayout(data)
	if err != nil || !signed {
		t.Fatalf("parsePESignLayout = %t, %v; want a signed layout", signed, err)
	}
	return l.certOff
}

func TestCheckAuthenticode(t *testing.T) {
	base := testPE{sections: []int{0x800, 0x200, 0x1000}}
	signed := buildPE(t, base)
	certOff := certTableAt(t, signed)
	with := func(f func(*testPE)) []byte {
		o := base
		f(&o)
		return buildPE(t, o)
	}
	patch := func(data []byte, off int, v byte) []byte {
		c := slices.Clone(data)
		c[off] ^= v
		return c
	}
	// The embedded digest is the last OCTET STRING before the signer's
	// certificate; find it by value.
	digestAt := func(data []byte) int {
		a, err := CheckAuthenticode(data)
		if err != nil || len(a.Embedded) == 0 {
			t.Fatalf("CheckAuthenticode = %+v, %v", a, err)
		}
		return bytes.Index(data[certOff:], a.Embedded) + certOff
	}
	noPE := slices.Clone(signed)
	noPE[0] = 'X'
	badAlg := with(func(o *testPE) { o.digestOID = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 5} }) // md5
	tests := []struct {
		name      string
		data      []byte
		want      AuthenticodeState // when err is nil
		wantErr   error
		wantAlg   string
		wantCount int
	}{
		{name: "pe32plus_signed", data: signed, want: AuthenticodeMatch, wantAlg: "sha256", wantCount: 1},
		{name: "pe32_signed", data: with(func(o *testPE) { o.pe32 = true }), want: AuthenticodeMatch, wantAlg: "sha256", wantCount: 1},
		{name: "section_table_out_of_file_order", data: with(func(o *testPE) { o.reversed = true }), want: AuthenticodeMatch, wantAlg: "sha256", wantCount: 1},
		{name: "data_after_the_sections", data: with(func(o *testPE) { o.trailing = 0x1234 }), want: AuthenticodeMatch, wantAlg: "sha256", wantCount: 1},
		{name: "empty_section", data: with(func(o *testPE) { o.sections = []int{0x200, 0, 0x400} }), want: AuthenticodeMatch, wantAlg: "sha256", wantCount: 1},
		{name: "sha1_digest", data: with(func(o *testPE) { o.digestOID, o.newHash = oidDigestSHA1, sha1.New }), want: AuthenticodeMatch, wantAlg: "sha1", wantCount: 1},
		{name: "two_entries", data: with(func(o *testPE) { o.extraEntry = true }), want: AuthenticodeMatch, wantAlg: "sha256", wantCount: 2},
		{name: "unsigned", data: with(func(o *testPE) { o.unsigned = true }), want: AuthenticodeUnsigned},
		{name: "no_pe_header", data: noPE, want: AuthenticodeUnsigned},
		{name: "too_short_for_mz", data: []byte("MZ"), want: AuthenticodeUnsigned},
		{name: "section_byte_flipped", data: patch(signed, testHeaders+0x900, 1), want: AuthenticodeMismatch, wantAlg: "sha256", wantCount: 1},
		{name: "header_byte_flipped", data: patch(signed, 0x88, 1), want: AuthenticodeMismatch, wantAlg: "sha256", wantCount: 1},
		{name: "checksum_changed", data: patch(signed, 0x80+24+64, 0xFF), want: AuthenticodeMatch, wantAlg: "sha256", wantCount: 1},
		{name: "embedded_digest_changed", data: patch(signed, digestAt(signed), 1), want: AuthenticodeMismatch, wantAlg: "sha256", wantCount: 1},
		{name: "unknown_digest_algorithm", data: badAlg, wantErr: ErrBadAuthenticode},
		{name: "digest_too_short", data: with(func(o *testPE) { o.digestLen = 20 }), wantErr: ErrBadAuthenticode},
		{name: "not_spc_indirect_data", data: with(func(o *testPE) { o.contentOID = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1} }), wantErr: ErrBadAuthenticode},
		{name: "revision_1", data: with(func(o *testPE) { o.revision = 0x0100 }), wantErr: ErrBadAuthenticode},
		{name: "x509_entry", data: with(func(o *testPE) { o.certType = 1 }), wantErr: ErrBadAuthenticode},
		{name: "pkcs7_garbage", data: patch(signed, certOff+8, 0xFF), wantErr: ErrBadAuthenticode},
		{name: "cut_by_one_byte", data: signed[:len(signed)-1], wantErr: ErrTruncated},
		{name: "cut_in_the_sections", data: signed[:testHeaders+0x100], wantErr: ErrTruncated},
		{name: "cut_in_the_headers", data: signed[:0x200], wantErr: ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := CheckAuthenticode(tt.data)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("CheckAuthenticode = %+v, %v; want error %v", a, err, tt.wantErr)
				}
				if !a.Signed || a.Match() {
					t.Errorf("CheckAuthenticode = Signed %t, Match %t with error %v; want a signed image that does not match", a.Signed, a.Match(), err)
				}
				return
			}
			if err != nil {
				t.Fatalf("CheckAuthenticode: %v", err)
			}
			if a.State() != tt.want || a.Algorithm != tt.wantAlg || a.Entries != tt.wantCount {
				t.Fatalf("CheckAuthenticode = %s, %q, %d entries; want %s, %q, %d", a.State(), a.Algorithm, a.Entries, tt.want, tt.wantAlg, tt.wantCount)
			}
			if a.Signed && a.Signer != testSigner {
				t.Errorf("Signer = %q; want %q", a.Signer, testSigner)
			}
			t.Logf("%s", a)
		})
	}
}

func TestAuthenticodeString(t *testing.T) {
	tests := []struct {
		name string
		a    Authenticode
		want string
	}{
		{"unsigned", Authenticode{}, "no Authenticode signature"},
		{"match", Authenticode{Signed: true, Algorithm: "sha256", Embedded: []byte{1, 2}, Computed: []byte{1, 2}, Signer: "S"}, "sha256 digest matches (signer: S)"},
		{"mismatch", Authenticode{Signed: true, Algorithm: "sha256", Embedded: bytes.Repeat([]byte{0xAB}, 32), Computed: bytes.Repeat([]byte{0xCD}, 32)},
			"sha256 digest abababababababab… in the signature, cdcdcdcdcdcdcdcd… computed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.String(); got != tt.want {
				t.Errorf("String() = %q; want %q", got, tt.want)
			}
		})
	}
}

// FuzzCheckAuthenticode: no panic on any input; the answer is the same
// twice; a signed answer without error has a digest of its algorithm's
// size; the CheckSum field does not count; and an image that verifies
// stops verifying when a byte the digest covers changes.
func FuzzCheckAuthenticode(f *testing.F) {
	f.Add(buildPE(f, testPE{sections: []int{0x200, 0x400}}))
	f.Add(buildPE(f, testPE{sections: []int{0x200}, pe32: true, trailing: 24}))
	f.Add(buildPE(f, testPE{sections: []int{0x200, 0x200}, reversed: true, extraEntry: true}))
	f.Add(buildPE(f, testPE{sections: []int{0x200}, unsigned: true}))
	f.Add([]byte("MZ"))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := CheckAuthenticode(data)
		b, err2 := CheckAuthenticode(data)
		if (err == nil) != (err2 == nil) || a.State() != b.State() || !bytes.Equal(a.Computed, b.Computed) {
			t.Fatalf("two checks differ: %s, %v and %s, %v", a, err, b, err2)
		}
		if err != nil {
			if a.Match() {
				t.Fatalf("Match with error %v", err)
			}
			return
		}
		if !a.Signed {
			if a.Computed != nil || a.Match() {
				t.Fatalf("unsigned, but computed %x", a.Computed)
			}
			return
		}
		i := slices.IndexFunc(authenticodeDigests, func(d digestAlg) bool { return d.name == a.Algorithm })
		if i < 0 || len(a.Computed) != authenticodeDigests[i].new().Size() || len(a.Embedded) != len(a.Computed) {
			t.Fatalf("algorithm %q with a %d-byte digest (%d embedded)", a.Algorithm, len(a.Computed), len(a.Embedded))
		}
		if a.Match() != bytes.Equal(a.Embedded, a.Computed) {
			t.Fatalf("Match = %t for %x and %x", a.Match(), a.Embedded, a.Computed)
		}
		l, _, err := parsePESignLayout(data)
		if err != nil {
			t.Fatalf("parsePESignLayout fails after CheckAuthenticode passed: %v", err)
		}
		inSection := slices.ContainsFunc(l.sections, func(s peSection) bool {
			return int64(s.rawPtr) <= int64(l.checksumOff) && int64(l.checksumOff) < int64(s.rawPtr)+int64(s.rawSize)
		})
		if !inSection { // a section over the headers hashes the CheckSum too
			sum := slices.Clone(data)
			sum[l.checksumOff] ^= 0xFF
			if c, err := CheckAuthenticode(sum); err != nil || !bytes.Equal(c.Computed, a.Computed) {
				t.Fatalf("changing the CheckSum changed the digest: %x, %v; want %x", c.Computed, err, a.Computed)
			}
		}
		if !a.Match() {
			return
		}
		// Bytes the digest covers: one in the MS-DOS header, and the first
		// byte of each section with raw data outside the certificate table.
		covered := []int{2}
		for _, s := range l.sections {
			if off := int(s.rawPtr); s.rawSize > 0 && off < len(data) && (off < l.certOff || off >= l.certOff+l.certSize) {
				covered = append(covered, off)
			}
		}
		for _, off := range covered {
			changed := slices.Clone(data)
			changed[off] ^= 0x01
			if c, err := CheckAuthenticode(changed); c.Match() {
				t.Fatalf("still verified with byte %d changed (%v)", off, err)
			}
		}
	})
}
