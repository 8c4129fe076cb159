// A worker thread of readTasks: reads its share of task dirs and posts the snapshots back.

import { parentPort, workerData } from 'node:worker_threads';
import { readShare, type ReadTasksRequest } from './read-tasks.js';

const { saveDir, ids } = workerData as ReadTasksRequest;
parentPort?.postMessage(await readShare(saveDir, ids));
