package ts

// Other tensor methods

import ()
