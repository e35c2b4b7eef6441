/** The SDK's version. */
export const VERSION = '0.1.0';

/** The API version this SDK targets. */
export const API_VERSION = 'v1';
