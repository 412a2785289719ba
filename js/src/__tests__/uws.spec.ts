/**
 * The UWS and result documents as the box's TAP service writes them
 * (server_ext/tap/uws.py job_list_xml, job_xml, job_json).
 */

import {
  errorText,
  isFinalPhase,
  isJobInfo,
  isResultPage,
  jobQuery,
  parseJobId,
  parseJobList,
  parseProxyList
} from '../uws';

const JOB_LIST = `<?xml version="1.0" encoding="UTF-8"?>
<uws:jobs xmlns:uws="http://www.ivoa.net/xml/UWS/v1.0" xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" version="1.1">
  <uws:jobref id="8ced50c7aaae480f" xlink:type="simple" xlink:href="http://127.0.0.1:8888/lsstbox/tap/async/8ced50c7aaae480f">
    <uws:phase>COMPLETED</uws:phase>
    <uws:runId>run &amp; &lt;1&gt;</uws:runId>
    <uws:ownerId>me</uws:ownerId>
    <uws:creationTime>2026-11-24T12:33:04.713Z</uws:creationTime>
  </uws:jobref>
  <uws:jobref id="f5df3a75e702ffaf" xlink:type="simple" xlink:href="http://127.0.0.1:8888/lsstbox/tap/async/f5df3a75e702ffaf">
    <uws:phase>EXECUTING</uws:phase>
    <uws:ownerId xsi:nil="true"/>
    <uws:creationTime>2026-11-24T12:33:04.715Z</uws:creationTime>
  </uws:jobref>
</uws:jobs>
`;

const JOB = `<?xml version="1.0" encoding="UTF-8"?>
<uws:job xmlns:uws="http://www.ivoa.net/xml/UWS/v1.0" xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" version="1.1">
  <uws:jobId>8ced50c7aaae480f</uws:jobId>
  <uws:ownerId>me</uws:ownerId>
  <uws:phase>QUEUED</uws:phase>
  <uws:quote xsi:nil="true"/>
  <uws:creationTime>2026-11-24T12:33:04.713Z</uws:creationTime>
  <uws:parameters>
    <uws:parameter id="query">SELECT TOP 1 objectId FROM dp1.Object</uws:parameter>
  </uws:parameters>
  <uws:results/>
</uws:job>
`;

const JOB_JSON = {
  jobId: '8ced50c7aaae480f',
  href: 'http://127.0.0.1:8888/lsstbox/tap/async/8ced50c7aaae480f',
  runId: null,
  ownerId: 'me',
  phase: 'COMPLETED',
  quote: null,
  creationTime: '2026-11-24T12:33:04.713Z',
  startTime: '2026-11-24T12:33:04.800Z',
  endTime: '2026-11-24T12:33:05.100Z',
  executionDuration: 600,
  destruction: '2026-12-01T12:33:04.713Z',
  parameters: { LANG: 'ADQL', QUERY: 'SELECT TOP 20 * FROM dp1.Object' },
  results: [
    {
      id: 'result',
      href: 'http://127.0.0.1:8888/lsstbox/tap/async/8ced50c7aaae480f/results/result',
      mimeType: 'application/x-votable+xml;serialization=BINARY2',
      size: 12345,
      rows: 20,
      overflow: false
    }
  ],
  errorSummary: null,
  progress: { rows: 20 }
};

describe('parseJobList', () => {
  it('reads every jobref with its phase, run id, owner and time', () => {
    const jobs = parseJobList(JOB_LIST);
    expect(jobs).toEqual([
      {
        id: '8ced50c7aaae480f',
        href: 'http://127.0.0.1:8888/lsstbox/tap/async/8ced50c7aaae480f',
        phase: 'COMPLETED',
        runId: 'run & <1>',
        ownerId: 'me',
        creationTime: '2026-11-24T12:33:04.713Z'
      },
      {
        id: 'f5df3a75e702ffaf',
        href: 'http://127.0.0.1:8888/lsstbox/tap/async/f5df3a75e702ffaf',
        phase: 'EXECUTING',
        runId: null,
        ownerId: null,
        creationTime: '2026-11-24T12:33:04.715Z'
      }
    ]);
  });

  it('reads an empty list', () => {
    const empty =
      '<uws:jobs xmlns:uws="http://www.ivoa.net/xml/UWS/v1.0" version="1.1"/>';
    expect(parseJobList(empty)).toEqual([]);
  });

  it('makes a URL for jobs without xlink:href and takes any prefix', () => {
    const other = `<jobs xmlns="http://www.ivoa.net/xml/UWS/v1.0">
      <jobref id="abc"><phase>error</phase><creationTime>2030-01-01T00:00:00Z</creationTime></jobref>
    </jobs>`;
    expect(parseJobList(other, 'https://host/tap/async/')).toEqual([
      {
        id: 'abc',
        href: 'https://host/tap/async/abc',
        phase: 'ERROR',
        runId: null,
        ownerId: null,
        creationTime: '2030-01-01T00:00:00Z'
      }
    ]);
  });

  it('refuses what is not a job list', () => {
    expect(() => parseJobList(JOB)).toThrow(/job list/);
    expect(() => parseJobList('<uws:jobs')).toThrow(/not well-formed/);
    expect(() => parseJobList('job list')).toThrow();
  });
});

describe('parseJobId', () => {
  it('reads the id of a job document', () => {
    expect(parseJobId(JOB)).toBe('8ced50c7aaae480f');
  });

  it('refuses a job list or an error document', () => {
    expect(() => parseJobId(JOB_LIST)).toThrow(/UWS job/);
    expect(() =>
      parseJobId('<VOTABLE><RESOURCE type="results"/></VOTABLE>')
    ).toThrow(/UWS job/);
  });
});

describe('isJobInfo and jobQuery', () => {
  it('accepts the JSON view of a job', () => {
    const problems: string[] = [];
    expect(isJobInfo(JOB_JSON, '$', problems)).toBe(true);
    expect(problems).toEqual([]);
    expect(jobQuery(JOB_JSON)).toBe('SELECT TOP 20 * FROM dp1.Object');
    expect(jobQuery({ ...JOB_JSON, parameters: { query: 'SELECT 1' } })).toBe(
      'SELECT 1'
    );
    expect(jobQuery({ ...JOB_JSON, parameters: {} })).toBe('');
  });

  it('accepts an error summary and says what is wrong otherwise', () => {
    expect(
      isJobInfo({
        ...JOB_JSON,
        phase: 'ERROR',
        results: [],
        errorSummary: { type: 'fatal', message: "unknown column 'nope'" }
      })
    ).toBe(true);
    const problems: string[] = [];
    expect(
      isJobInfo({ ...JOB_JSON, results: [{ id: 'result' }] }, '$', problems)
    ).toBe(false);
    expect(problems[0]).toMatch(/^\$\.results\[0\]\.href: expected a string/);
    expect(isJobInfo({ ...JOB_JSON, progress: null })).toBe(false);
    expect(isJobInfo('COMPLETED')).toBe(false);
  });
});

describe('isFinalPhase', () => {
  it('knows the phases that no longer change', () => {
    expect(
      ['COMPLETED', 'ERROR', 'ABORTED', 'archived'].map(isFinalPhase)
    ).toEqual([true, true, true, true]);
    expect(['PENDING', 'QUEUED', 'EXECUTING'].map(isFinalPhase)).toEqual([
      false,
      false,
      false
    ]);
  });
});

describe('isResultPage', () => {
  const page = {
    job_id: 'abc',
    columns: [
      {
        name: 'objectId',
        datatype: 'long',
        unit: '',
        ucd: 'meta.id',
        description: '',
        xtype: ''
      },
      {
        name: 'coord_ra',
        datatype: 'double',
        unit: 'deg',
        ucd: 'pos.eq.ra',
        description: 'RA',
        xtype: ''
      }
    ],
    total: 2,
    rows_in_result: 2,
    overflow: false,
    offset: 0,
    limit: 100,
    sort: '',
    desc: false,
    filter: '',
    rows: [
      ['609780525117571073', 53.1],
      ['609780525117571074', null]
    ]
  };

  it('accepts a page of rows', () => {
    expect(isResultPage(page)).toBe(true);
  });

  it('refuses rows that are not arrays, or a missing total', () => {
    expect(isResultPage({ ...page, rows: [{ objectId: 1 }] })).toBe(false);
    const { total, ...noTotal } = page;
    expect(total).toBe(2);
    expect(isResultPage(noTotal)).toBe(false);
  });
});

describe('parseProxyList', () => {
  it('reads the array the proxy lists, through this server', () => {
    const list = [
      {
        name: 'rsp',
        url: 'https://data.lsst.cloud/api/tap',
        proxy_url: 'http://elsewhere:8888/lsstbox/proxy/rsp',
        token: true
      }
    ];
    expect(parseProxyList(list, 'http://127.0.0.1:8888/base/')).toEqual([
      {
        name: 'rsp',
        url: 'https://data.lsst.cloud/api/tap',
        proxyUrl: 'http://127.0.0.1:8888/base/lsstbox/proxy/rsp'
      }
    ]);
  });

  it('reads a name -> description object and tolerates nothing', () => {
    expect(
      parseProxyList({ 'a b': { url: 'https://x/tap' } }, 'http://h/')
    ).toEqual([
      {
        name: 'a b',
        url: 'https://x/tap',
        proxyUrl: 'http://h/lsstbox/proxy/a%20b'
      }
    ]);
    expect(parseProxyList([], 'http://h/')).toEqual([]);
    expect(parseProxyList(null, 'http://h/')).toEqual([]);
    expect(parseProxyList({ bad: 3 }, 'http://h/')).toEqual([]);
  });
});

describe('errorText', () => {
  it('reads the QUERY_STATUS of a VOTable error document', () => {
    const doc = `<?xml version="1.0" encoding="UTF-8"?>
<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">
<RESOURCE type="results">
<INFO name="QUERY_STATUS" value="ERROR">unknown column &apos;nope&apos; &amp; more</INFO>
</RESOURCE>
</VOTABLE>`;
    expect(errorText(doc)).toBe("unknown column 'nope' & more");
  });

  it('keeps plain text and falls back to the status text', () => {
    expect(errorText('job x is COMPLETED: it has no error\n')).toBe(
      'job x is COMPLETED: it has no error'
    );
    expect(errorText('', 'Not Found')).toBe('Not Found');
  });
});
