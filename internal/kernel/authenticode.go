package kernel

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/asn1"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"slices"
)

// ErrBadAuthenticode: an image has a PE certificate table, but its
// Authenticode signature cannot be read: a WIN_CERTIFICATE of another
// revision or type than the kernel takes, PKCS#7 that does not parse, or a
// digest algorithm this package does not compute. The kernel refuses such
// an image under lockdown too.
var ErrBadAuthenticode = errors.New("kernel image has an unreadable Authenticode signature")

// AuthenticodeState sums up an image's Authenticode check in one word.
type AuthenticodeState string

// The outcomes of CheckAuthenticode, as Authenticode.State names them.
const (
	// AuthenticodeUnsigned: the image has no certificate table (or no PE
	// header at all).
	AuthenticodeUnsigned AuthenticodeState = "unsigned"
	// AuthenticodeMatch: the digest the signature carries is the image's.
	AuthenticodeMatch AuthenticodeState = "match"
	// AuthenticodeMismatch: the image was changed after it was signed.
	AuthenticodeMismatch AuthenticodeState = "mismatch"
	// AuthenticodeUnreadable: CheckAuthenticode failed (see its error).
	AuthenticodeUnreadable AuthenticodeState = "unreadable"
)

// Authenticode is what an image's Authenticode signature says about it.
// Whether the signature itself is made by a key the kernel trusts is not
// checked here: the kernel does that when it loads the image under
// lockdown. Comparing the digest catches a signed image that was patched or
// damaged before it is ever handed to kexec_file_load.
type Authenticode struct {
	// Signed reports a certificate table in the image.
	Signed bool
	// Entries is the number of WIN_CERTIFICATE entries in the table; the
	// kernel, and so this check, uses the first.
	Entries int
	// Algorithm is the digest algorithm the signature names: "sha256" for
	// Debian's images ("sha1", "sha224", "sha384", "sha512" are computed
	// too).
	Algorithm string
	// Embedded is the digest in the signature's SpcIndirectDataContent;
	// Computed is the image's, hashed as the kernel hashes it.
	Embedded, Computed []byte
	// Signer is the subject common name of the certificate that made the
	// signature, when the signature carries it ("" otherwise).
	Signer string
}

// Match reports a signed image whose embedded and computed digests agree.
func (a Authenticode) Match() bool {
	return a.Signed && len(a.Computed) > 0 && bytes.Equal(a.Embedded, a.Computed)
}

// State names the outcome: unsigned, match or mismatch (a failed check is
// AuthenticodeUnreadable, which callers set from the error).
func (a Authenticode) State() AuthenticodeState {
	switch {
	case !a.Signed:
		return AuthenticodeUnsigned
	case a.Match():
		return AuthenticodeMatch
	default:
		return AuthenticodeMismatch
	}
}

// String describes the outcome in one phrase for status output:
// "sha256 digest matches (signer: Debian Secure Boot Signer 2022 - linux)",
// "sha256 digest 3f1c… in the signature, 9a02… computed", or "no
// Authenticode signature".
func (a Authenticode) String() string {
	signer := ""
	if a.Signer != "" {
		signer = fmt.Sprintf(" (signer: %s)", a.Signer)
	}
	switch a.State() {
	case AuthenticodeUnsigned:
		return "no Authenticode signature"
	case AuthenticodeMatch:
		return fmt.Sprintf("%s digest matches%s", a.Algorithm, signer)
	default:
		return fmt.Sprintf("%s digest %s in the signature, %s computed", a.Algorithm, shortHex(a.Embedded), shortHex(a.Computed))
	}
}

func shortHex(b []byte) string {
	s := hex.EncodeToString(b)
	if len(s) > 16 {
		return s[:16] + "…"
	}
	return s
}

// WIN_CERTIFICATE (the PE format specification, "The Attribute Certificate
// Table") and the object identifiers of Authenticode's PKCS#7.
const (
	winCertHeaderSize    = 8
	winCertRevision2     = 0x0200
	winCertTypePKCSSgned = 0x0002
	peOpt32              = 0x10B
	peOpt32DataDirOff    = 96
	peOpt32NumRVA        = 92
	peOpt32PlusNumRVA    = 108
	peDataDirEntrySize   = 8
)

var (
	oidSignedData       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidSpcIndirectData  = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 1, 4}
	oidDigestSHA1       = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidDigestSHA256     = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidDigestSHA384     = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidDigestSHA512     = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
	oidDigestSHA224     = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 4}
	authenticodeDigests = []digestAlg{
		{oidDigestSHA256, "sha256", sha256.New},
		{oidDigestSHA1, "sha1", sha1.New},
		{oidDigestSHA384, "sha384", sha512.New384},
		{oidDigestSHA512, "sha512", sha512.New},
		{oidDigestSHA224, "sha224", sha256.New224},
	}
)

// digestAlg is a digest algorithm an Authenticode signature may name.
type digestAlg struct {
	oid  asn1.ObjectIdentifier
	name string
	new  func() hash.Hash
}

// peSignLayout is what the Authenticode hash needs of a PE header: the
// holes it leaves in the headers, the sections and the certificate table.
type peSignLayout struct {
	checksumOff, certDirOff int
	sizeOfHeaders           int
	sections                []peSection
	certOff, certSize       int
}

// peSection is a section table entry's fields that order the sections the
// way the kernel's pefile_compare_shdrs does, and locate their raw data.
type peSection struct {
	name                     string
	virtualSize, virtualAddr uint32
	rawSize, rawPtr          uint32
}

// CheckAuthenticode reads the Authenticode signature of a PE image (an x86
// bzImage or arm64 Image with the EFI stub's header, PE32+ or PE32) and
// computes the image's digest as the PE specification and the kernel's
// verify_pefile_signature() do: the headers up to SizeOfHeaders without the
// CheckSum field and the certificate table's data directory entry, then
// each section's raw data in file-offset order, then whatever follows the
// sections up to the certificate table. Like the kernel, it reads the
// first WIN_CERTIFICATE of the table, which must be revision 2.0 and hold
// PKCS#7 SignedData whose content is an SpcIndirectDataContent.
//
// An image without a PE header or certificate table is reported unsigned,
// with no error; an image whose signature table or PE layout is malformed
// or does not fit the file is an error (ErrBadAuthenticode, ErrBadPE or
// ErrTruncated), with Signed set when the table is there. A digest that
// does not match is no error: see Authenticode.Match.
func CheckAuthenticode(data []byte) (Authenticode, error) {
	l, signed, err := parsePESignLayout(data)
	if err != nil || !signed {
		return Authenticode{Signed: signed}, err
	}
	a := Authenticode{Signed: true}
	pkcs7, n, err := firstSignedData(data[l.certOff : l.certOff+l.certSize])
	a.Entries = n
	if err != nil {
		return a, fmt.Errorf("certificate table at %d: %w", l.certOff, err)
	}
	oid, digest, signer, err := parseAuthenticodePKCS7(pkcs7)
	if err != nil {
		return a, fmt.Errorf("certificate table at %d: %w", l.certOff, err)
	}
	a.Embedded, a.Signer = digest, signer
	i := slices.IndexFunc(authenticodeDigests, func(d digestAlg) bool { return d.oid.Equal(oid) })
	if i < 0 {
		return a, fmt.Errorf("%w: digest algorithm %s is not one this check computes", ErrBadAuthenticode, oid)
	}
	alg := authenticodeDigests[i]
	a.Algorithm = alg.name
	h := alg.new()
	if len(digest) != h.Size() {
		return a, fmt.Errorf("%w: a %s digest of %d bytes, want %d", ErrBadAuthenticode, alg.name, len(digest), h.Size())
	}
	if err := hashPEImage(h, data, l); err != nil {
		return a, err
	}
	a.Computed = h.Sum(nil)
	return a, nil
}

// parsePESignLayout reads the PE header of data. signed is false, with no
// error, when data has no PE header or an empty certificate table entry.
func parsePESignLayout(data []byte) (l peSignLayout, signed bool, err error) {
	if len(data) < 0x40 || string(data[:2]) != "MZ" {
		return l, false, nil
	}
	pe := int64(binary.LittleEndian.Uint32(data[offPEPointer:]))
	if pe+peCOFFSize+2 > int64(len(data)) || string(data[pe:pe+4]) != peMagic {
		return l, false, nil
	}
	p := int(pe)
	nsec := int(binary.LittleEndian.Uint16(data[p+6:]))
	optSize := int(binary.LittleEndian.Uint16(data[p+20:]))
	opt := p + peCOFFSize
	var numRVAOff, dirOff int
	switch magic := binary.LittleEndian.Uint16(data[opt:]); magic {
	case peOpt32Plus:
		numRVAOff, dirOff = peOpt32PlusNumRVA, peOptDataDirOff
	case peOpt32:
		numRVAOff, dirOff = peOpt32NumRVA, peOpt32DataDirOff
	default:
		return l, false, fmt.Errorf("%w: optional header magic 0x%X is neither PE32 nor PE32+", ErrBadPE, magic)
	}
	if optSize < dirOff || opt+optSize > len(data) {
		return l, false, fmt.Errorf("%w: optional header of %d bytes at 0x%X does not fit the file (%d bytes)", ErrBadPE, optSize, opt, len(data))
	}
	nrva := int(binary.LittleEndian.Uint32(data[opt+numRVAOff:]))
	l.certDirOff = opt + dirOff + peCertDirIndex*peDataDirEntrySize
	if nrva <= peCertDirIndex || l.certDirOff+peDataDirEntrySize > opt+optSize {
		return l, false, nil // no certificate table entry
	}
	l.certOff = int(binary.LittleEndian.Uint32(data[l.certDirOff:]))
	l.certSize = int(binary.LittleEndian.Uint32(data[l.certDirOff+4:]))
	if l.certOff == 0 || l.certSize == 0 {
		return l, false, nil
	}
	l.checksumOff = opt + peOptChecksum
	l.sizeOfHeaders = int(binary.LittleEndian.Uint32(data[opt+peOptSizeHdrs:]))
	secTable := opt + optSize
	switch {
	case nsec > peMaxSections:
		return l, true, fmt.Errorf("%w: %d sections", ErrBadPE, nsec)
	case secTable+nsec*peSectionSize > l.sizeOfHeaders:
		return l, true, fmt.Errorf("%w: SizeOfHeaders %d, but the section table ends at %d", ErrBadPE, l.sizeOfHeaders, secTable+nsec*peSectionSize)
	case l.sizeOfHeaders > len(data):
		return l, true, fmt.Errorf("%w: %d bytes, SizeOfHeaders is %d", ErrTruncated, len(data), l.sizeOfHeaders)
	case int64(l.certOff)+int64(l.certSize) > int64(len(data)):
		return l, true, fmt.Errorf("%w: %d bytes, certificate table ends at %d", ErrTruncated, len(data), int64(l.certOff)+int64(l.certSize))
	case l.certOff < l.sizeOfHeaders:
		return l, true, fmt.Errorf("%w: certificate table at %d, inside the headers (%d bytes)", ErrBadSignatureTable, l.certOff, l.sizeOfHeaders)
	}
	l.sections = make([]peSection, 0, nsec)
	for i := range nsec {
		s := data[secTable+i*peSectionSize:]
		l.sections = append(l.sections, peSection{
			name:        sectionName(s[:8]),
			virtualSize: binary.LittleEndian.Uint32(s[8:]),
			virtualAddr: binary.LittleEndian.Uint32(s[12:]),
			rawSize:     binary.LittleEndian.Uint32(s[16:]),
			rawPtr:      binary.LittleEndian.Uint32(s[20:]),
		})
	}
	return l, true, nil
}

// firstSignedData walks the WIN_CERTIFICATE entries of a certificate table
// (each padded to 8 bytes) and returns the PKCS#7 of the first, which must
// be revision 2.0 and of type PKCS_SIGNED_DATA, cut to the length its DER
// header gives (sbsign pads it), and the number of entries.
func firstSignedData(table []byte) ([]byte, int, error) {
	var first []byte
	n := 0
	for p := 0; p < len(table); n++ {
		if len(table)-p < winCertHeaderSize {
			return nil, n, fmt.Errorf("%w: %d stray bytes at %d of the table", ErrBadAuthenticode, len(table)-p, p)
		}
		length := int(binary.LittleEndian.Uint32(table[p:]))
		revision := binary.LittleEndian.Uint16(table[p+4:])
		certType := binary.LittleEndian.Uint16(table[p+6:])
		if length <= winCertHeaderSize || length > len(table)-p {
			return nil, n, fmt.Errorf("%w: WIN_CERTIFICATE at %d of the table has length %d, %d bytes left", ErrBadAuthenticode, p, length, len(table)-p)
		}
		if n == 0 {
			if revision != winCertRevision2 || certType != winCertTypePKCSSgned {
				return nil, 1, fmt.Errorf("%w: the first WIN_CERTIFICATE has revision 0x%04X and type %d; the kernel takes only revision 0x0200 with PKCS#7 signed data (type 2)", ErrBadAuthenticode, revision, certType)
			}
			first = table[p+winCertHeaderSize : p+length]
		}
		p = (p + length + 7) &^ 7
	}
	var rv asn1.RawValue
	rest, err := asn1.Unmarshal(first, &rv)
	if err != nil {
		return nil, n, fmt.Errorf("%w: the signature is not DER: %w", ErrBadAuthenticode, err)
	}
	for _, b := range rest {
		if b != 0 {
			return nil, n, fmt.Errorf("%w: %d bytes after the PKCS#7 are not zero padding", ErrBadAuthenticode, len(rest))
		}
	}
	return first[:len(first)-len(rest)], n, nil
}

// parseAuthenticodePKCS7 reads from DER PKCS#7 ContentInfo just what the
// digest check needs: the SpcIndirectDataContent's DigestInfo, and the
// subject common name of the first signer's certificate when the
// signature carries it.
func parseAuthenticodePKCS7(der []byte) (alg asn1.ObjectIdentifier, digest []byte, signer string, err error) {
	fail := func(what string, err error) (asn1.ObjectIdentifier, []byte, string, error) {
		if err != nil {
			return nil, nil, "", fmt.Errorf("%w: %s: %w", ErrBadAuthenticode, what, err)
		}
		return nil, nil, "", fmt.Errorf("%w: %s", ErrBadAuthenticode, what)
	}
	// ContentInfo ::= SEQUENCE { contentType OID, content [0] EXPLICIT }
	ci, err := derElements(der, asn1.TagSequence, 2)
	if err != nil {
		return fail("PKCS#7 ContentInfo", err)
	}
	if oid, err := derOID(ci[0]); err != nil || !oid.Equal(oidSignedData) {
		return fail(fmt.Sprintf("PKCS#7 content type %s, want signedData %s", oid, oidSignedData), err)
	}
	sd, err := explicitContent(ci[1])
	if err != nil {
		return fail("PKCS#7 content", err)
	}
	// SignedData ::= SEQUENCE { version, digestAlgorithms SET,
	// contentInfo, certificates [0] IMPLICIT OPTIONAL,
	// crls [1] IMPLICIT OPTIONAL, signerInfos SET }
	fields, err := derElements(sd.FullBytes, asn1.TagSequence, 4)
	if err != nil {
		return fail("SignedData", err)
	}
	inner, err := derElements(fields[2].FullBytes, asn1.TagSequence, 2)
	if err != nil {
		return fail("SignedData's contentInfo", err)
	}
	if oid, err := derOID(inner[0]); err != nil || !oid.Equal(oidSpcIndirectData) {
		return fail(fmt.Sprintf("signed content type %s, want SpcIndirectDataContent %s", oid, oidSpcIndirectData), err)
	}
	content, err := explicitContent(inner[1])
	if err != nil {
		return fail("SpcIndirectDataContent", err)
	}
	if content.Class == asn1.ClassUniversal && content.Tag == asn1.TagOctetString {
		// CMS wraps the content in an OCTET STRING; Authenticode's PKCS#7
		// does not, but accept both.
		if _, err := asn1.Unmarshal(content.Bytes, &content); err != nil {
			return fail("SpcIndirectDataContent", err)
		}
	}
	// SpcIndirectDataContent ::= SEQUENCE { data, messageDigest DigestInfo }
	spc, err := derElements(content.FullBytes, asn1.TagSequence, 2)
	if err != nil {
		return fail("SpcIndirectDataContent", err)
	}
	// DigestInfo ::= SEQUENCE { AlgorithmIdentifier, digest OCTET STRING }
	di, err := derElements(spc[1].FullBytes, asn1.TagSequence, 2)
	if err != nil {
		return fail("DigestInfo", err)
	}
	ai, err := derElements(di[0].FullBytes, asn1.TagSequence, 1)
	if err != nil {
		return fail("DigestInfo's algorithm", err)
	}
	if alg, err = derOID(ai[0]); err != nil {
		return fail("DigestInfo's algorithm", err)
	}
	if d := di[1]; d.Class != asn1.ClassUniversal || d.Tag != asn1.TagOctetString || d.IsCompound {
		return fail(fmt.Sprintf("DigestInfo's digest has tag %d of class %d, want an OCTET STRING", d.Tag, d.Class), nil)
	}
	return alg, di[1].Bytes, signerName(fields[3:]), nil
}

// signerName finds the certificate of the first SignerInfo among the
// certificates in SignedData's fields after contentInfo, and returns its
// subject common name; "" when anything is missing or unreadable: the name
// is for status output only.
func signerName(fields []asn1.RawValue) string {
	var certs []asn1.RawValue
	var signerInfos asn1.RawValue
	for _, f := range fields {
		switch {
		case f.Class == asn1.ClassContextSpecific && f.Tag == 0:
			rest := f.Bytes
			for len(rest) > 0 {
				var c asn1.RawValue
				var err error
				if rest, err = asn1.Unmarshal(rest, &c); err != nil {
					return ""
				}
				certs = append(certs, c)
			}
		case f.Class == asn1.ClassUniversal && f.Tag == asn1.TagSet:
			signerInfos = f
		}
	}
	var si asn1.RawValue
	if _, err := asn1.Unmarshal(signerInfos.Bytes, &si); err != nil {
		return ""
	}
	// SignerInfo ::= SEQUENCE { version, issuerAndSerialNumber, ... }
	sf, err := derElements(si.FullBytes, asn1.TagSequence, 2)
	if err != nil {
		return ""
	}
	ias, err := derElements(sf[1].FullBytes, asn1.TagSequence, 2)
	if err != nil {
		return ""
	}
	for _, c := range certs {
		cert, err := x509.ParseCertificate(c.FullBytes)
		if err != nil {
			continue
		}
		if bytes.Equal(cert.RawIssuer, ias[0].FullBytes) && cert.SerialNumber != nil &&
			bytes.Equal(ias[1].Bytes, serialBytes(cert)) {
			return cert.Subject.CommonName
		}
	}
	return ""
}

// serialBytes is the content octets of the certificate's serial number
// INTEGER, as an issuerAndSerialNumber carries them.
func serialBytes(cert *x509.Certificate) []byte {
	der, err := asn1.Marshal(cert.SerialNumber)
	if err != nil {
		return nil
	}
	var rv asn1.RawValue
	if _, err := asn1.Unmarshal(der, &rv); err != nil {
		return nil
	}
	return rv.Bytes
}

// derElements parses one DER element of the universal tag want from b
// (trailing bytes are an error) and returns its elements, at least min.
func derElements(b []byte, want, min int) ([]asn1.RawValue, error) {
	var outer asn1.RawValue
	rest, err := asn1.Unmarshal(b, &outer)
	if err != nil {
		return nil, err
	}
	if len(rest) > 0 {
		return nil, fmt.Errorf("%d bytes after the element", len(rest))
	}
	if outer.Class != asn1.ClassUniversal || outer.Tag != want || !outer.IsCompound {
		return nil, fmt.Errorf("tag %d of class %d, want universal %d", outer.Tag, outer.Class, want)
	}
	var elems []asn1.RawValue
	for rest = outer.Bytes; len(rest) > 0; {
		var e asn1.RawValue
		if rest, err = asn1.Unmarshal(rest, &e); err != nil {
			return nil, err
		}
		elems = append(elems, e)
	}
	if len(elems) < min {
		return nil, fmt.Errorf("%d elements, want at least %d", len(elems), min)
	}
	return elems, nil
}

// derOID reads an OBJECT IDENTIFIER element.
func derOID(v asn1.RawValue) (asn1.ObjectIdentifier, error) {
	var oid asn1.ObjectIdentifier
	rest, err := asn1.Unmarshal(v.FullBytes, &oid)
	if err == nil && len(rest) > 0 {
		err = fmt.Errorf("%d bytes after the object identifier", len(rest))
	}
	return oid, err
}

// explicitContent unwraps a [0] EXPLICIT element.
func explicitContent(v asn1.RawValue) (asn1.RawValue, error) {
	if v.Class != asn1.ClassContextSpecific || v.Tag != 0 || !v.IsCompound {
		return asn1.RawValue{}, fmt.Errorf("tag %d of class %d, want [0] EXPLICIT", v.Tag, v.Class)
	}
	var inner asn1.RawValue
	rest, err := asn1.Unmarshal(v.Bytes, &inner)
	if err != nil {
		return asn1.RawValue{}, err
	}
	if len(rest) > 0 {
		return asn1.RawValue{}, fmt.Errorf("%d bytes after the [0] content", len(rest))
	}
	return inner, nil
}

// hashPEImage feeds h the image's Authenticode hash input, in the order of
// the kernel's pefile_digest_pe_contents(): the headers without the two
// holes, the sections with raw data sorted as pefile_compare_shdrs sorts
// them, then the bytes from SizeOfHeaders plus the sections' raw sizes up
// to the certificate table.
func hashPEImage(h hash.Hash, data []byte, l peSignLayout) error {
	if !(l.checksumOff+4 <= l.certDirOff && l.certDirOff+peDataDirEntrySize <= l.sizeOfHeaders) {
		return fmt.Errorf("%w: CheckSum at 0x%X and certificate table entry at 0x%X do not lie in order inside the headers (%d bytes)", ErrBadPE, l.checksumOff, l.certDirOff, l.sizeOfHeaders)
	}
	h.Write(data[:l.checksumOff])
	h.Write(data[l.checksumOff+4 : l.certDirOff])
	h.Write(data[l.certDirOff+peDataDirEntrySize : l.sizeOfHeaders])
	secs := slices.Clone(l.sections)
	slices.SortStableFunc(secs, comparePESections)
	hashed := int64(l.sizeOfHeaders)
	for _, s := range secs {
		if s.rawSize == 0 {
			continue
		}
		end := int64(s.rawPtr) + int64(s.rawSize)
		if end > int64(len(data)) {
			return fmt.Errorf("%w: %d bytes, section %q ends at %d", ErrTruncated, len(data), s.name, end)
		}
		h.Write(data[s.rawPtr:end])
		hashed += int64(s.rawSize)
	}
	if size := int64(len(data)); size > hashed {
		end := size - int64(l.certSize)
		if end < hashed {
			return fmt.Errorf("%w: the headers and sections (%d bytes) overlap the certificate table (%d bytes at the end of %d)", ErrBadPE, hashed, l.certSize, size)
		}
		h.Write(data[hashed:end])
	}
	return nil
}

// comparePESections orders sections as the kernel's pefile_compare_shdrs:
// by file offset, then virtual address, name, virtual size and raw size.
func comparePESections(a, b peSection) int {
	switch {
	case a.rawPtr != b.rawPtr:
		return cmpUint32(a.rawPtr, b.rawPtr)
	case a.virtualAddr != b.virtualAddr:
		return cmpUint32(a.virtualAddr, b.virtualAddr)
	case a.name != b.name:
		if a.name < b.name {
			return -1
		}
		return 1
	case a.virtualSize != b.virtualSize:
		return cmpUint32(a.virtualSize, b.virtualSize)
	}
	return cmpUint32(a.rawSize, b.rawSize)
}

func cmpUint32(a, b uint32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
