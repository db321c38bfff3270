/** The cluster services' settings: one schema (keys.ts), layered resolution, named errors, compiled options. */
export { CLIENT_SETTINGS, COORDINATOR_SETTINGS, WORKER_SETTINGS, type SettingSpec, type SettingsOf, type Specs } from './keys.js';
export { envVariable, flagOf, resolveSettings, type ResolvedSettings, type Service, type SettingsInput } from './resolve.js';
export { clientTls, coordinatorOptions, workerOptions, type Compiled, type CoordinatorOptions, type WorkerOptions } from './compile.js';
export { ConflictingClusterSettings, InvalidClusterSetting, MissingClusterSetting, UnknownClusterSetting } from './errors.js';
