#pragma once
// Keys, certificates and a KRL made with OpenSSH's ssh-keygen for the
// certificate tests (base64, as in .pub files):
//   ssh-keygen -s ca -I alice@example -n alice,ops -V 20260101:20280101 -z 7
//              -O source-address=127.0.0.0/8 -O force-command=internal-sftp user.pub
//   ssh-keygen -s ca2 (ECDSA P-256) -I e -n alice -V 20260101:20280101 -z 8 user.pub
//   ssh-keygen -s ca3 (RSA 2048)    -I r -n alice -V 20260101:20280101 -z 9 user.pub
//   ssh-keygen -s ca -I host -h -n h -V 20260101:20280101 user.pub

#include <string>

namespace berth::auth::test {

// ssh-ed25519
const std::string kCaEd25519 =
    "AAAAC3NzaC1lZDI1NTE5AAAAIHAwgUQi586zV31ZwcFpYK5/DYINtcAwt+JLIhrfmwdd";
// ecdsa-sha2-nistp256
const std::string kCaEcdsa =
    "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBGh+tj8dHo87vk5z7a/yEugmxRCZiIAEGG2e"
    "PBiYJYxwkPJkwcSm2CySjPsXDq3Cuvfpqe5ITR7rUcqEP1AmVg8=";
// ssh-rsa
const std::string kCaRsa =
    "AAAAB3NzaC1yc2EAAAADAQABAAABAQDvdTpYaIu9AWoxbOcfmQD1y3q3IcJRQElskAtwvzukqSPYKCq1+bXBRvXk"
    "6TkO3rWeUYkeRkPftLsVDbu9F2/bzgbzN875xjaS2Ch+E4nIcsTvJdunE0ChFQjpNJbbmAmrbL+BUemAwinSEFCR"
    "I70mXXXU3Vmq5A6qQUxcvRvOOOdAUo8441o4zhg0+oO8J7kAyhTr0+Wx99QeHsTtoNRFem5+41HsEEeuzRGByI6w"
    "aaJpgdsu+f0ty1qAtdhrT8mRm2SknFOXzQ6qoQPU3JZ/wqXP5HSBFcO+eGZEBpcnbE5lzn8tXrGn9Zg0/pdvRxoo"
    "P52MOKqhpCHJDvTkP3Gv";
// ssh-ed25519
const std::string kUserKey = "AAAAC3NzaC1lZDI1NTE5AAAAILVjzJRbaR2Uwgstvgk4LRafNGFuCYacniHdh2RvL5O7";
// ssh-ed25519-cert-v01@openssh.com
const std::string kCertEd25519 =
    "AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29tAAAAIB/v2uVYBL9nqYRMp0WqiS24DzTo9DSm8+WO"
    "ayG4y17GAAAAILVjzJRbaR2Uwgstvgk4LRafNGFuCYacniHdh2RvL5O7AAAAAAAAAAcAAAABAAAADWFsaWNlQGV4"
    "YW1wbGUAAAAQAAAABWFsaWNlAAAAA29wcwAAAABpVbkAAAAAAG0YIAAAAABLAAAADWZvcmNlLWNvbW1hbmQAAAAR"
    "AAAADWludGVybmFsLXNmdHAAAAAOc291cmNlLWFkZHJlc3MAAAAPAAAACzEyNy4wLjAuMC84AAAAggAAABVwZXJt"
    "aXQtWDExLWZvcndhcmRpbmcAAAAAAAAAF3Blcm1pdC1hZ2VudC1mb3J3YXJkaW5nAAAAAAAAABZwZXJtaXQtcG9y"
    "dC1mb3J3YXJkaW5nAAAAAAAAAApwZXJtaXQtcHR5AAAAAAAAAA5wZXJtaXQtdXNlci1yYwAAAAAAAAAAAAAAMwAA"
    "AAtzc2gtZWQyNTUxOQAAACBwMIFEIufOs1d9WcHBaWCufw2CDbXAMLfiSyIa35sHXQAAAFMAAAALc3NoLWVkMjU1"
    "MTkAAABAtKsSEoxiZY6by8D8HBYVxbKFeEkjEpQRWAyQld6VzyUFAmAzgfcaqXMZQSmJ723EoyJ17iZQuf+AT0Vd"
    "xncFAg==";
// ssh-ed25519-cert-v01@openssh.com
const std::string kCertEcdsa =
    "AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29tAAAAIORnkjbzlTZtiyFc6PK/yBqjJU8dSbNqXjjF"
    "D52Ryi//AAAAILVjzJRbaR2Uwgstvgk4LRafNGFuCYacniHdh2RvL5O7AAAAAAAAAAgAAAABAAAAAWUAAAAJAAAA"
    "BWFsaWNlAAAAAGlVuQAAAAAAbRggAAAAAAAAAACCAAAAFXBlcm1pdC1YMTEtZm9yd2FyZGluZwAAAAAAAAAXcGVy"
    "bWl0LWFnZW50LWZvcndhcmRpbmcAAAAAAAAAFnBlcm1pdC1wb3J0LWZvcndhcmRpbmcAAAAAAAAACnBlcm1pdC1w"
    "dHkAAAAAAAAADnBlcm1pdC11c2VyLXJjAAAAAAAAAAAAAABoAAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlz"
    "dHAyNTYAAABBBGh+tj8dHo87vk5z7a/yEugmxRCZiIAEGG2ePBiYJYxwkPJkwcSm2CySjPsXDq3Cuvfpqe5ITR7r"
    "UcqEP1AmVg8AAABkAAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAABJAAAAIQDqocVzQgdxhIqLImeu+HQSBjS/akNa"
    "MWfjmr1QhjQstAAAACASVm/8IXZHHmWyrSDWMA2IzIeHBjLfwmTQI0lipmXDGg==";
// ssh-ed25519-cert-v01@openssh.com
const std::string kCertRsa =
    "AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29tAAAAIB9NthSKsZGR7Unzs3mOMBpMkkNqO3m150ky"
    "QBZMWR8TAAAAILVjzJRbaR2Uwgstvgk4LRafNGFuCYacniHdh2RvL5O7AAAAAAAAAAkAAAABAAAAAXIAAAAJAAAA"
    "BWFsaWNlAAAAAGlVuQAAAAAAbRggAAAAAAAAAACCAAAAFXBlcm1pdC1YMTEtZm9yd2FyZGluZwAAAAAAAAAXcGVy"
    "bWl0LWFnZW50LWZvcndhcmRpbmcAAAAAAAAAFnBlcm1pdC1wb3J0LWZvcndhcmRpbmcAAAAAAAAACnBlcm1pdC1w"
    "dHkAAAAAAAAADnBlcm1pdC11c2VyLXJjAAAAAAAAAAAAAAEXAAAAB3NzaC1yc2EAAAADAQABAAABAQDvdTpYaIu9"
    "AWoxbOcfmQD1y3q3IcJRQElskAtwvzukqSPYKCq1+bXBRvXk6TkO3rWeUYkeRkPftLsVDbu9F2/bzgbzN875xjaS"
    "2Ch+E4nIcsTvJdunE0ChFQjpNJbbmAmrbL+BUemAwinSEFCRI70mXXXU3Vmq5A6qQUxcvRvOOOdAUo8441o4zhg0"
    "+oO8J7kAyhTr0+Wx99QeHsTtoNRFem5+41HsEEeuzRGByI6waaJpgdsu+f0ty1qAtdhrT8mRm2SknFOXzQ6qoQPU"
    "3JZ/wqXP5HSBFcO+eGZEBpcnbE5lzn8tXrGn9Zg0/pdvRxooP52MOKqhpCHJDvTkP3GvAAABFAAAAAxyc2Etc2hh"
    "Mi01MTIAAAEABB96QA1e1E0uV7c3AzX7dz5Ck4CXGE0Q92BHSe8cmCDBbFAhWy3hBLXITBEfJbv479IlO3TtqtTk"
    "YkHPMmIYs161s11pc+07MHbj1f4gZvgs7pjsmYvYBsUcYe1/H1cN1BBq4+nWpA1KR14HNi8tPcn4gK1MfFlB82le"
    "+HO2b1sn+iHXsPtA6R8cgvtPmRgZziJeL/tD21ASHOrIVAAktoWsQMxHc9i+kaw3KCdXw39xJVrLqRZqj1Ebp1nB"
    "5MzxMSTzXO8ZREKWG0fPrjotI1L3ru+5gO43iaQuNCycPpMVip00NKQnHyeCftGQvfUBSDfUGYskhW7U3+RvP64u"
    "PQ==";
// ssh-ed25519-cert-v01@openssh.com
const std::string kHostCert =
    "AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29tAAAAICVIYRgJ9xeRmQTrL/u0hphhrVy7gXP0AbfM"
    "AnmG3iR2AAAAILVjzJRbaR2Uwgstvgk4LRafNGFuCYacniHdh2RvL5O7AAAAAAAAAAAAAAACAAAABGhvc3QAAAAF"
    "AAAAAWgAAAAAaVW5AAAAAABtGCAAAAAAAAAAAAAAAAAAAAAAMwAAAAtzc2gtZWQyNTUxOQAAACBwMIFEIufOs1d9"
    "WcHBaWCufw2CDbXAMLfiSyIa35sHXQAAAFMAAAALc3NoLWVkMjU1MTkAAABATmgnejy2LfzMQvzKs26ZTtTHWJ0s"
    "IEVV/5UmCzrvkFu2dHoBuWHBp3SeZ2wS47hj/SPqlSVK8k7Qj3symdJcAg==";
// ssh-keygen -k -s ca.pub with 'serial: 7', 'serial: 10-20', 'id: badid', then -u user.pub
const std::string kKrl =
    "U1NIS1JMCgAAAAABAAAAAAAAAAAAAAAAaxb78gAAAAAAAAAAAAAAAAAAAAABAAAAXAAAADMAAAALc3NoLWVkMjU1"
    "MTkAAAAgcDCBRCLnzrNXfVnBwWlgrn8Ngg21wDC34ksiGt+bB10AAAAAIgAAAA4AAAAAAAAABwAAAAI/+SMAAAAJ"
    "AAAABWJhZGlkAgAAADcAAAAzAAAAC3NzaC1lZDI1NTE5AAAAILVjzJRbaR2Uwgstvgk4LRafNGFuCYacniHdh2Rv"
    "L5O7";

} // namespace berth::auth::test
