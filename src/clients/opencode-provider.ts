/** The provider `setup opencode` writes into opencode.json, by the ID other parts (run) refer to it. */
export const PROVIDER_ID = 'thirdloop';
export const PROVIDER_NAME = 'Third Loop';
