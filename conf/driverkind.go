package conf

// DriverKind is what a PCI device's bound driver means for DPDK.
type DriverKind int

const (
	// DriverUnbound: no driver; DPDK cannot map the device.
	DriverUnbound DriverKind = iota
	// DriverVFIO: vfio-pci, DPDK's recommended driver; needs an IOMMU
	// group or vfio's no-IOMMU mode.
	DriverVFIO
	// DriverUIO: uio_pci_generic or igb_uio; DPDK maps the device without
	// an IOMMU (no DMA isolation).
	DriverUIO
	// DriverBifurcated: the kernel driver stays bound and DPDK's PMD works
	// beside it (Mellanox/NVIDIA mlx5, mlx4).
	DriverBifurcated
	// DriverKernel: any other kernel driver (ixgbe, i40e, ice, virtio-pci,
	// ...): it owns the device, DPDK cannot use it until it is rebound.
	DriverKernel
)

// classifyDriver returns the kind of the driver named driver ("" for none).
func classifyDriver(driver string) DriverKind {
	switch driver {
	case "":
		return DriverUnbound
	case "vfio-pci":
		return DriverVFIO
	case "uio_pci_generic", "igb_uio":
		return DriverUIO
	case "mlx5_core", "mlx4_core":
		return DriverBifurcated
	default:
		return DriverKernel
	}
}

// DPDKCapable reports whether DPDK can drive a device bound this way.
func (k DriverKind) DPDKCapable() bool {
	return k == DriverVFIO || k == DriverUIO || k == DriverBifurcated
}

func (k DriverKind) String() string {
	switch k {
	case DriverUnbound:
		return "unbound"
	case DriverVFIO:
		return "vfio"
	case DriverUIO:
		return "uio"
	case DriverBifurcated:
		return "bifurcated"
	case DriverKernel:
		return "kernel"
	}
	return "unknown"
}
