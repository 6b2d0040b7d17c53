Package: linux-image-6.1.0-51-cloud-amd64
Stat