package kerneltest

import (
	"crypto/sha256"
	"encoding/asn1"
	"encoding/binary"
	"fmt"
)

// Authenticode object identifiers.
var (
	oidSignedData      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidSpcIndirectData = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 1, 4}
	oidSpcPEImageData  = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 1, 15}
	oidSHA256          = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
)

type algorithmID struct {
	Algorithm asn1.ObjectIdentifier
	Params    asn1.RawValue `asn1:"optional"`
}

type digestInfo struct {
	Algorithm algorithmID
	Digest    []byte
}

type spcAttribute struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue `asn1:"optional"`
}

type spcIndirectData struct {
	Data   spcAttribute
	Digest digestInfo
}

type contentInfo struct {
	Type    asn1.ObjectIdentifier
	Content asn1.RawValue
}

type signedData struct {
	Version     int
	DigestAlgs  []algorithmID `asn1:"set"`
	Content     contentInfo
	SignerInfos []asn1.RawValue `asn1:"set"`
}

// AuthenticodeSigned signs an unsigned PE image the way sbsign lays a
// signature out: it pads the image to 8 bytes, appends a certificate table
// holding one WIN_CERTIFICATE (revision 2.0, PKCS#7 signed data) whose
// SpcIndirectDataContent carries the image's SHA-256 Authenticode digest,
// and records the table in the PE header. The digest is the real one, so
// kernel.CheckAuthenticode reports a match; there is no certificate and no
// signature a kernel would accept. The image's sections, if it has any,
// must follow its headers one after another in file order (BzImage's has
// none), so the digest is the file up to the table without the CheckSum
// and the certificate table entry.
func AuthenticodeSigned(unsigned []byte) ([]byte, error) {
	le := binary.LittleEndian
	if len(unsigned) < 0x40 || string(unsigned[:2]) != "MZ" {
		return nil, fmt.Errorf("no MZ header")
	}
	pe := int(le.Uint32(unsigned[0x3C:]))
	opt := pe + 24
	if opt+2 > len(unsigned) || string(unsigned[pe:pe+4]) != "PE\x00\x00" {
		return nil, fmt.Errorf("no PE header at 0x%X", pe)
	}
	certDir := opt + 144
	if le.Uint16(unsigned[opt:]) != 0x20B || certDir+8 > len(unsigned) {
		return nil, fmt.Errorf("not a PE32+ image with a certificate table entry")
	}
	img := append([]byte(nil), unsigned...)
	if le.Uint32(img[certDir:]) != 0 || le.Uint32(img[certDir+4:]) != 0 {
		return nil, fmt.Errorf("the image is signed already")
	}
	for len(img)%8 != 0 {
		img = append(img, 0)
	}
	checksum := opt + 64
	h := sha256.New()
	h.Write(img[:checksum])
	h.Write(img[checksum+4 : certDir])
	h.Write(img[certDir+8:])
	spc, err := asn1.Marshal(spcIndirectData{
		Data:   spcAttribute{Type: oidSpcPEImageData},
		Digest: digestInfo{Algorithm: algorithmID{Algorithm: oidSHA256}, Digest: h.Sum(nil)},
	})
	if err != nil {
		return nil, err
	}
	sd, err := asn1.Marshal(signedData{
		Version:    1,
		DigestAlgs: []algorithmID{{Algorithm: oidSHA256}},
		Content:    contentInfo{Type: oidSpcIndirectData, Content: explicit0(spc)},
	})
	if err != nil {
		return nil, err
	}
	pkcs7, err := asn1.Marshal(contentInfo{Type: oidSignedData, Content: explicit0(sd)})
	if err != nil {
		return nil, err
	}
	at := len(img)
	var hdr [8]byte
	le.PutUint32(hdr[:], uint32(8+len(pkcs7)))
	le.PutUint16(hdr[4:], 0x0200) // WIN_CERT_REVISION_2_0
	le.PutUint16(hdr[6:], 0x0002) // WIN_CERT_TYPE_PKCS_SIGNED_DATA
	img = append(append(img, hdr[:]...), pkcs7...)
	for len(img)%8 != 0 {
		img = append(img, 0)
	}
	le.PutUint32(img[certDir:], uint32(at))
	le.PutUint32(img[certDir+4:], uint32(len(img)-at))
	return img, nil
}

func explicit0(der []byte) asn1.RawValue {
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: der}
}
