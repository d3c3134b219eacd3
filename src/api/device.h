/* The public device (struct sl_device) as an I/O backend. */
#ifndef SL_API_DEVICE_H
#define SL_API_DEVICE_H

#include <stddef.h>

#include "io/io.h"
#include "sltcp/sltcp.h"
#include "wire/wire.h"

/* Wraps dev (copied) into an sl_io that owns it; 0 or -errno with a reason
 * in err (the device is then not destroyed). */
int sl_device_io(const struct sl_device *dev, struct sl_io **out, char *err, size_t errlen);

#endif
